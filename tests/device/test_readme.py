"""The documentation's "Device authorization grant (RFC 8628)" section as written: its shell block registers the client
and configures ``serve``, and its ``device_login.py`` signs in while a person (an httpx browser) approves."""

from __future__ import annotations

import json
import shlex
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..docs.pages import blocks, doc_section, exports_of
from ..serving import clean_env, hidden_fields, run_shell, serving

SECTION = "Device authorization grant (RFC 8628)"


def test_the_readme_device_login_signs_in(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    block = blocks(doc_section(SECTION), "sh")[0]
    (code,) = blocks(doc_section(SECTION), "python")
    exports = exports_of(block)
    assert exports["ASGI_OAUTH_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    env = clean_env(**exports, ASGI_OAUTH_KEY_PREFIX=key_prefix, ASGI_OAUTH_DEVICE_POLL_INTERVAL="1")
    env["ASGI_OAUTH_REDIS_URL"] = redis_url  # the test's own Redis, not one on the default port
    created = run_shell(block.replace("redis://127.0.0.1:6379/0", redis_url), env)
    assert created.returncode == 0, created.stderr

    with serving(tmp_path, env) as server:
        printed: list[str] = []
        shown = threading.Event()

        def capture(*args: Any) -> None:
            printed.append(" ".join(map(str, args)))
            if len(printed) == 2:  # the URI and code, then the complete URI
                shown.set()

        namespace: dict[str, Any] = {"__name__": "device_login", "print": capture}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (the README's own code)
        namespace["ISSUER"] = server.issuer
        with ThreadPoolExecutor(1) as pool:
            device = pool.submit(namespace["device_login"], "my-cli", "read profile")
            assert shown.wait(30), "device_login printed nothing"
            complete = printed[1].split("open ", 1)[1].rstrip(")")
            assert urlsplit(complete).path == "/oauth/device" and "user_code=" in complete
            with httpx.Client(base_url=server.base_url, timeout=10) as browser:
                to_login = browser.get(complete)
                assert to_login.status_code == 302
                next_path = httpx.URL(to_login.headers["location"]).params["next"]
                signed_in = browser.post(
                    "/login", data={"username": "alice", "password": "wonderland", "next": next_path}
                )
                assert signed_in.status_code == 303 and signed_in.headers["location"] == next_path
                page = browser.get(next_path)
                assert page.status_code == 200 and "My CLI" in page.text
                done = browser.post("/oauth/device", data={**hidden_fields(page.text), "decision": "allow"})
                assert done.status_code == 200 and "is now connected" in done.text
            tokens = device.result(timeout=60)
    assert printed[0].startswith(f"Open {server.issuer}/device and enter the code ")
    assert tokens["scope"] == "profile read" and tokens["access_token"] and tokens["refresh_token"]


def test_the_demo_device_flow_by_curl_as_the_readme_and_the_banner_print_it(tmp_path: Path) -> None:
    """The demo with the grant on (memory store): its client has the grant, the README's first curl starts a
    device authorization, a person allows it, and the README's second curl, the device's poll, gets the tokens.
    The banner prints the same two commands."""
    _, start, poll = blocks(doc_section(SECTION), "sh")
    with serving(tmp_path, clean_env(ASGI_OAUTH_ENABLE_DEVICE_AUTHORIZATION="true")) as server:
        assert f"device:    {server.issuer}/device" in server.stdout  # the banner points at the page
        port = server.base_url.rsplit(":", 1)[1]
        secret = server.client_secret

        def run(block: str, **env: str) -> dict[str, Any]:
            script = f"export DEMO_CLIENT_SECRET={secret}\n{block}".replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            result = run_shell(script, clean_env(**env))
            assert result.returncode == 0, result.stderr
            answer: dict[str, Any] = json.loads(result.stdout)
            return answer

        started = run(start)
        assert started["verification_uri_complete"].startswith(f"{server.issuer}/device?user_code=")
        assert run(poll, DEVICE_CODE=started["device_code"])["error"] == "authorization_pending"
        with httpx.Client(base_url=server.base_url, timeout=10) as browser:
            assert "/oauth/device" in browser.get("/").text  # the demo links the verification page
            assert browser.post("/login", data={"username": "alice", "password": "wonderland"}).status_code == 303
            page = browser.get(started["verification_uri_complete"])
            assert page.status_code == 200 and "asgi-oauth demo client" in page.text
            done = browser.post("/oauth/device", data={**hidden_fields(page.text), "decision": "allow"})
            assert done.status_code == 200 and "is now connected" in done.text
        tokens = run(poll, DEVICE_CODE=started["device_code"])
        assert tokens["scope"] == "read" and tokens["access_token"] and tokens["refresh_token"]

        # The banner's lines are these commands, with the secret itself and this server's address.
        def words(command: str) -> list[str]:
            return shlex.split(command.replace("\\\n", " ").replace("127.0.0.1:8000", f"127.0.0.1:{port}"))

        printed = [line.strip() for line in server.stdout.splitlines() if line.strip().startswith("curl ")]
        expected = [[w.replace("$DEMO_CLIENT_SECRET", secret) for w in words(block)] for block in (start, poll)]
        assert [shlex.split(line) for line in printed[-2:]] == expected
