"""docs/tutorials/mcp.md followed as written: the page's ``server.py`` started with the page's uvicorn command, and
the page's ``client.py`` (the ``mcp`` SDK's own OAuth client) run with the page's command while a person signs
in and allows in the browser (:class:`tests.mcp.conformance.Browser`, over HTTP); the client prints what the
page shows."""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from ..mcp.conformance import Browser
from ..serving import free_port
from .pages import app_env, code, ports, section, serving_block, write_file

PAGE = "tutorials/mcp"
CALLBACK_PORT = 8765

pytestmark = pytest.mark.slow


def test_the_sdk_client_signs_in_lists_and_calls_tools(tmp_path: Path) -> None:
    (server,) = code(PAGE, "MCP tutorial: the server", "python")
    (client,) = code(PAGE, "MCP tutorial: the client", "python")
    port, callback_port = free_port(), free_port()
    moved = {8000: port, CALLBACK_PORT: callback_port}
    clone = tmp_path / "clone"
    write_file(clone, "server.py", ports(server, moved))
    write_file(clone, "client.py", ports(client, moved))
    # No browser here: webbrowser.open runs `true`; the person is the test's Browser. Unbuffered, to read the URL.
    env = app_env(clone, BROWSER="true", PYTHONUNBUFFERED="1")
    (run,) = code(PAGE, "MCP tutorial: run it", "sh")
    (run_client,) = code(PAGE, "MCP tutorial: sign in and call a tool", "sh")
    (shown,) = code(PAGE, "MCP tutorial: sign in and call a tool", "text")
    argv = shlex.split(run_client)
    assert argv == [".venv/bin/python", "client.py"]

    ready = "/.well-known/oauth-protected-resource/mcp"
    with serving_block(run, env, port, tmp_path / "server", ready_path=ready):
        challenge = httpx.post(f"http://127.0.0.1:{port}/mcp", timeout=10)
        assert challenge.status_code == 401
        assert (
            f'resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"'
            in (challenge.headers["www-authenticate"])
        )
        # The documents the page's steps 2 and 3 name, at the URLs it names.
        steps = ports(section(PAGE, "MCP tutorial: sign in and call a tool"), {8000: port})
        base = f"http://127.0.0.1:{port}"
        for url in (
            f"{base}/.well-known/oauth-protected-resource/mcp",
            f"{base}/.well-known/oauth-authorization-server/oauth",
        ):
            assert url in steps
        prm = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
        assert prm["resource"] == f"{base}/mcp" and prm["authorization_servers"] == [f"{base}/oauth"]
        metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server/oauth", timeout=10).json()
        assert metadata["registration_endpoint"] == f"{base}/oauth/register"
        assert metadata["authorization_endpoint"] == f"{base}/oauth/authorize"
        proc = subprocess.Popen(
            [sys.executable, *argv[1:]], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            prefix = "Opening the sign-in page: "
            assert first.startswith(prefix), (first, proc.stderr.read() if proc.stderr else "")
            person = Browser(f"http://127.0.0.1:{port}")
            signing_in = threading.Thread(target=person.authorize, args=(first.removeprefix(prefix).strip(),))
            signing_in.start()
            out, err = proc.communicate(timeout=60)
            signing_in.join(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert any("/oauth/login" in step for step in person.visited), person.visited  # the page's sign-in page
    assert any(step.startswith("POST") and "/oauth/authorize" in step for step in person.visited)  # consent
    printed = [first.rstrip("\n"), *out.splitlines()]
    expected = ports(shown, {8000: port}).splitlines()
    assert printed[0].startswith(expected[0].removesuffix("..."))
    assert printed[1:] == expected[1:]
