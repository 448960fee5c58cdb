"""The examples, the README and the documentation keep working as written: they are what newcomers copy.

Shell commands run in bash exactly as printed (``set -euo pipefail``), with only the port changed to a
free one and ``.venv/bin/`` pointed at the environment running the tests; the examples and the demo run
as subprocesses through their real entry points; Python snippets are executed as they stand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from asgi_oauth import new_client, register_client

from .docs.pages import DOC_TEXTS, FRAGMENTS, RUNNABLE, blocks, doc_section, sections
from .serving import (
    ROOT,
    banner_value,
    clean_env,
    example_doc,
    free_port,
    http_statuses,
    literal_blocks,
    load_example,
    run_cli,
    run_shell,
    running,
    serving,
)

EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py"))


# -- the quick start ------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """The quick start has exactly two commands; .ci/run runs the second one, character for character, and then
    builds the documentation site."""
    quick_start = doc_section("Quick start")
    commands = re.findall(r"```(?:sh|bash|console)?\n(.*?)\n```", quick_start, re.DOTALL)
    assert len(commands) == 2, commands
    serve_command, test_command = (c.strip() for c in commands)
    assert "\n" not in serve_command and "\n" not in test_command
    assert serve_command.endswith(".venv/bin/asgi-oauth serve")
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert test_command in ci_lines
    assert ".venv/bin/nox -s docs" in ci_lines[ci_lines.index(test_command) + 1 :]


def test_the_readmes_links_into_the_repository_resolve() -> None:
    """The site's strict build checks the links between its pages; the README, read on a forge or in the clone,
    is outside it, so its relative links are checked here: each names a file or folder of the repository."""
    links = re.findall(r"\]\(((?!https?:|#)[^)#]+)(?:#[^)]*)?\)", DOC_TEXTS[ROOT / "README.md"])
    assert links, "the README links into docs/"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_every_runnable_block_is_exercised() -> None:
    """Each ``sh``, ``bash`` and ``python`` block of the README and the documentation sits in a section a test
    runs, so none goes stale unnoticed."""
    exercised = {
        "Quick start": 2,  # the shape test above; CI runs the second verbatim, test_serve the demo itself
        "In a few lines": 1,  # test_readme_example below
        "Two commands": 2,  # docs/index.md: the Quick start's two, test_docs_reference checks they are the same
        "What to try next": 2,
        "Command line": 2,
        "Mounting into your app": 1,
        "Publishing the metadata at its RFC 8414 location": 1,
        "Protecting your routes": 1,
        "With the `mcp` SDK": 1,  # tests/mcp/test_readme_servers.py runs both files with their clients
        "With FastMCP": 2,
        "The pieces, for any MCP app": 1,
        "Failed attempts": 1,
        "Registries": 3,  # the blocks of "Extending"
        "Dynamic client registration": 1,  # tests/test_registration_serve.py
        "OpenID Connect": 1,  # test_openid_connect_snippet below
        "Revoking everything of a user or a client": 1,  # tests/ops/test_readme_ops.py
        "Events": 1,  # tests/ops/test_readme_ops.py
        "Device authorization grant (RFC 8628)": 4,  # tests/device/test_readme.py
        "JWT client authentication (`private_key_jwt`)": 2,  # tests/assertions/test_readme.py
        "Secrets the server derives (`client_secret_jwt`)": 1,  # tests/assertions/test_readme.py
        "Identity assertion grants for enterprise MCP (`jwt_bearer`)": 1,  # tests/assertions/test_readme.py
        "Workload identity": 2,  # tests/assertions/test_readme.py
        "Issuing ID-JAGs: this server as the enterprise identity provider": 1,  # tests/exchange/test_id_jag_served.py
        "Sender-constrained tokens (`dpop`, RFC 9449)": 2,  # tests/dpop/test_readme.py
        # docs/tutorials/fastapi.md: tests/docs/test_fastapi_tutorial.py: every block, in one shell, on Redis
        "FastAPI tutorial: install": 1,  # each tutorial's: tests/docs/test_tutorial_blocks.py
        "FastAPI tutorial: the app": 1,
        "FastAPI tutorial: run it": 1,
        "FastAPI tutorial: register a client": 1,
        "FastAPI tutorial: call it without a token": 1,
        "FastAPI tutorial: get a token and call it": 2,
        "FastAPI tutorial: the same app with Starlette": 2,
        # docs/tutorials/mcp.md: tests/docs/test_mcp_tutorial.py: the server, and the SDK client the page prints
        "MCP tutorial: install": 1,
        "MCP tutorial: the server": 1,
        "MCP tutorial: run it": 1,
        "MCP tutorial: the client": 1,
        "MCP tutorial: sign in and call a tool": 1,
        # docs/tutorials/openid-provider.md: tests/docs/test_openid_tutorial.py, with Authlib as the relying party
        "OpenID tutorial: install": 1,
        "OpenID tutorial: the provider": 2,
        "OpenID tutorial: register the wiki": 1,
        "OpenID tutorial: the wiki": 2,
        # docs/tutorials/workers.md: tests/docs/test_workers_tutorial.py (Sentinel and Cluster: `console` fragments)
        "Workers tutorial: install": 1,
        "Workers tutorial: start two workers": 1,
        "Workers tutorial: a token through both workers": 2,
        "Workers tutorial: revoke it everywhere": 1,
        # docs/tutorials/devices.md: tests/docs/test_devices_tutorial.py: serve, registration, and the device's program
        "Devices tutorial: install": 1,
        "Devices tutorial: turn it on": 1,
        "Devices tutorial: register the tool": 1,
        "Devices tutorial: the tool": 1,
        "Devices tutorial: sign in": 1,
    }
    found: dict[str, int] = {}
    for text in DOC_TEXTS.values():
        for heading, body in sections(text):
            count = len(blocks(body, *RUNNABLE))
            if count:
                found[heading] = found.get(heading, 0) + count
    assert found == exercised


def test_every_block_is_runnable_or_a_fragment() -> None:
    """A block that no test runs says so by its language (``py`` for Python, ``text``, ...), never by having none."""
    for path, text in DOC_TEXTS.items():
        opening = re.findall(r"^```(.*)$", text, re.MULTILINE)[::2]
        unmarked = [language for language in opening if language not in RUNNABLE + FRAGMENTS]
        assert unmarked == [], f"{path.relative_to(ROOT)}: {unmarked}"


def test_headings_are_unique() -> None:
    """Tests and links find a section by its heading: no two sections of the README and docs/ share one."""
    headings = [heading for text in DOC_TEXTS.values() for heading, _ in sections(text)]
    assert sorted({h for h in headings if headings.count(h) > 1}) == []


def test_the_performance_page_shows_the_benchmarks_own_chart() -> None:
    """docs/img/ratios.png is a copy (the site shows only what is under docs/): the one benchmarks/README.md shows."""
    assert "](img/ratios.png)" in DOC_TEXTS[ROOT / "docs" / "performance.md"]
    copy = (ROOT / "docs" / "img" / "ratios.png").read_bytes()
    assert copy == (ROOT / "benchmarks" / "ratios.png").read_bytes(), "copy benchmarks/ratios.png to docs/img/"


async def test_readme_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's few lines, as printed: the route refuses a request without a token and answers one with it."""
    monkeypatch.delenv("ASGI_OAUTH_REDIS_URL", raising=False)
    (code,) = blocks(doc_section("In a few lines"), "python")
    namespace = exec_snippet(code, {})
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        refused = await http.get("/api/me")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        issued = await http.post(
            "/oauth/token", auth=("job", "change-me"), data={"grant_type": "client_credentials", "scope": "read"}
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        answered = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert answered.status_code == 200 and answered.json() == {"client_id": "job", "scopes": ["read"]}
    await namespace["oauth"].aclose()


def test_what_to_try_next(tmp_path: Path) -> None:
    section = doc_section("What to try next")
    token_block, example_block = blocks(section, "sh")
    with serving(tmp_path, clean_env()) as server:
        port = server.base_url.rsplit(":", 1)[1]
        # The line the banner says to paste into the other shell, whole: nothing after the command.
        (export,) = [line.strip() for line in server.stdout.splitlines() if "export DEMO_" in line]
        assert export == f"export DEMO_CLIENT_SECRET={server.client_secret}"
        script = f"{export}\n{token_block}".replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = run_shell(script, clean_env())
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"sub": None, "client_id": "demo-client", "scopes": ["read"]}

        links = re.findall(r"<(http://127\.0\.0\.1:8000/[^>]*)>", section)
        assert len(links) == 3
        with httpx.Client(timeout=10) as http:
            for link in links:
                answer = http.get(link.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
                assert answer.status_code in (200, 303), link  # /start redirects to /authorize
    assert example_block == ".venv/bin/python examples/starlette_mount.py --port 8001"
    assert example_block in example_doc("starlette_mount")


# -- the command line section ---------------------------------------------------------------------


def test_command_line_blocks(redis_url: str, key_prefix: str) -> None:
    delete_block, create_block = blocks(doc_section("Command line"), "sh")
    env = clean_env(ASGI_OAUTH_KEY_PREFIX=key_prefix)
    redis_env = {**env, "ASGI_OAUTH_REDIS_URL": redis_url}
    made = run_cli(
        *("clients", "create", "--name", "demo", "--client-id", "demo-client"),
        *("--grant-type", "client_credentials"),
        env=redis_env,
    )
    assert made.returncode == 0, made.stderr
    # The block names its own ASGI_OAUTH_REDIS_URL, as serve prints it: point it at the test's Redis.
    deleted = run_shell(delete_block.replace("redis://127.0.0.1:6379/0", redis_url), env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"client_id": "demo-client", "deleted": True}

    # The block exports its own ASGI_OAUTH_REDIS_URL: point it at the test's Redis.
    assert "redis://127.0.0.1:6379/0" in create_block
    created = run_shell(create_block.replace("redis://127.0.0.1:6379/0", redis_url), env)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"client_id", "client_secret"}
    (client,) = json.loads(run_cli("clients", "list", env=redis_env).stdout)
    assert client["name"] == "Billing" and client["scope"] == "invoices:read invoices:write"
    assert client["redirect_uris"] == ["https://billing.example.com/oauth/callback"]


# -- the Python snippets --------------------------------------------------------------------------


def exec_snippet(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(code, "<documentation>", "exec"), namespace)  # noqa: S102 (the documentation's own code)
    return namespace


async def test_mounting_snippets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASGI_OAUTH_REDIS_URL", raising=False)
    (mount,) = blocks(doc_section("Mounting into your app"), "python")
    (publish,) = blocks(doc_section("Publishing the metadata at its RFC 8414 location"), "python")
    namespace = exec_snippet(mount, {})
    exec_snippet(publish, namespace)  # appended to the first, as the section says
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        token = await http.post(
            "/oauth/token",
            auth=("reporting-job", "example-secret-change-me"),
            data={"grant_type": "client_credentials", "scope": "read"},
        )
        assert token.status_code == 200, token.text
        under_mount = await http.get("/oauth/.well-known/oauth-authorization-server")
        at_root = await http.get("/.well-known/oauth-authorization-server/oauth")
        assert under_mount.status_code == at_root.status_code == 200
        assert at_root.json() == under_mount.json()
        assert at_root.json()["issuer"] == "http://127.0.0.1:8001/oauth"
        # The other two places MCP clients look, as the section says: the same bytes.
        for url in ("/.well-known/openid-configuration/oauth", "/oauth/.well-known/openid-configuration"):
            other = await http.get(url)
            assert other.status_code == 200 and other.content == at_root.content, url
    await namespace["oauth"].aclose()


async def test_protecting_snippet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASGI_OAUTH_REDIS_URL", raising=False)
    (snippet,) = blocks(doc_section("Protecting your routes"), "python")
    namespace = exec_snippet(snippet, {})
    store = namespace["store"]
    client, secret = new_client(name="Job", grant_types=["client_credentials"], scope="read admin")
    assert secret is not None
    await register_client(store, client)
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:

        async def token(scope: str) -> dict[str, str]:
            issued = await http.post(
                "/oauth/token",
                auth=(client.client_id, secret),
                data={"grant_type": "client_credentials", "scope": scope},
            )
            assert issued.status_code == 200, issued.text
            return {"Authorization": f"Bearer {issued.json()['access_token']}"}

        assert (await http.get("/api/whoami")).status_code == 401
        reader = await token("read")
        mine = await http.get("/api/whoami", headers=reader)
        assert mine.json() == {"client_id": client.client_id, "scopes": ["read"]}
        refused = await http.get("/api/admin/whoami", headers=reader)
        assert refused.status_code == 403 and 'scope="admin"' in refused.headers["www-authenticate"]
        assert (await http.get("/api/admin/whoami", headers=await token("admin"))).status_code == 200
    await store.aclose()


async def test_mcp_servers_snippet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The section's app: 401 pointing at the PRM, the PRM naming the issuer, the issuer's metadata, CORS."""
    monkeypatch.delenv("ASGI_OAUTH_REDIS_URL", raising=False)
    (snippet,) = blocks(doc_section("The pieces, for any MCP app"), "python")
    namespace = exec_snippet(snippet, {})
    store = namespace["store"]
    client, secret = new_client(name="Agent", grant_types=["client_credentials"], scope="tools.read")
    assert secret is not None
    await register_client(store, client)
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        refused = await http.post("/mcp")
        assert refused.status_code == 401
        prm_url = "http://127.0.0.1:8001/.well-known/oauth-protected-resource/mcp"
        assert refused.headers["www-authenticate"] == (
            f'Bearer realm="asgi_oauth", scope="tools.read", resource_metadata="{prm_url}"'
        )
        prm = (await http.get(prm_url)).json()
        assert prm["resource"] == "http://127.0.0.1:8001/mcp"
        (issuer,) = prm["authorization_servers"]
        metadata = (await http.get("/.well-known/oauth-authorization-server/oauth")).json()
        assert metadata["issuer"] == issuer
        preflight = await http.options(
            "/oauth/token", headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
        # A token issued without a resource is not for this server (the section's "Audience").
        issued = await http.post(
            "/oauth/token",
            auth=(client.client_id, secret),
            data={"grant_type": "client_credentials", "scope": "tools.read"},
        )
        unbound = await http.post("/mcp", headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
        assert unbound.status_code == 401 and 'error="invalid_token"' in unbound.headers["www-authenticate"]
    await store.aclose()


# -- the examples, run as their docstrings say ----------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_docstring_is_what_the_source_shows(name: str) -> None:
    """No escapes in the docstrings: what a reader copies from the file is what bash gets."""
    source = (ROOT / "examples" / f"{name}.py").read_text()
    for line in example_doc(name).splitlines():
        assert line.strip() in source, line
    blocks = literal_blocks(example_doc(name))
    assert any(f".venv/bin/python examples/{name}.py --port 8001" in block for block in blocks)
    assert "curl" in blocks[-1]
    assert not any(line.endswith("\\\\") for block in blocks for line in block.splitlines())


def test_documented_example_commands_are_the_examples_own() -> None:
    commands = {
        name
        for text in DOC_TEXTS.values()
        for name in re.findall(r"\.venv/bin/python examples/([\w<>]+)\.py --port 8001", text)
    }
    assert {"starlette_mount", "<name>"} <= commands <= {*EXAMPLES, "<name>"}
    for name in EXAMPLES:
        assert f".venv/bin/python examples/{name}.py --port 8001" in example_doc(name)


@pytest.mark.parametrize(
    ("name", "ready_path"), [("starlette_mount", "/"), ("protect_starlette", "/"), ("fastapi_app", "/health")]
)
def test_example_runs_as_documented(name: str, ready_path: str, tmp_path: Path) -> None:
    run_block, try_block = literal_blocks(example_doc(name))
    argv_line = run_block.splitlines()[-1]
    assert argv_line == f".venv/bin/python examples/{name}.py --port 8001"
    port = free_port()
    argv = [sys.executable, *shlex.split(argv_line)[1:-1], str(port)]
    with running(argv, clean_env(), port, tmp_path, ready_path=ready_path):
        result = run_shell(try_block.replace("127.0.0.1:8001", f"127.0.0.1:{port}"), clean_env())
    assert result.returncode == 0, result.stderr
    CHECKS[name](result.stdout, port)


def check_starlette_mount(output: str, port: int) -> None:
    assert '"token_type":"Bearer"' in output and '"scope":"read"' in output
    # Both metadata URLs answer the same document, naming this port's issuer.
    assert output.count(f'"issuer":"http://127.0.0.1:{port}/oauth"') == 2


def check_protect_starlette(output: str, port: int) -> None:
    assert http_statuses(output) == [401, 403, 201, 401]
    assert re.search(r'^www-authenticate: Bearer realm="notes"\r?$', output, re.MULTILINE | re.IGNORECASE)
    assert 'error="insufficient_scope"' in output and 'error="invalid_token"' in output
    assert '"notes":[' in output and '"text":"hi","by":"notes-cli"' in output


def check_fastapi_app(output: str, port: int) -> None:
    assert http_statuses(output) == [401, 403, 403]
    assert '"items":[' in output
    # The dependency's 403 is the middleware's RFC 6750 answer, not FastAPI's {"detail": ...}.
    assert '"detail"' not in output
    assert output.lower().count("cache-control: no-store") == 3
    challenges = re.findall(r"^www-authenticate: (.*?)\r?$", output, re.MULTILINE | re.IGNORECASE)
    assert challenges[0] == 'Bearer realm="inventory"'
    scope_challenge = 'Bearer realm="inventory", error="insufficient_scope", error_description="{}", scope="{}"'
    description = "the access token lacks a required scope"
    needed = ("items.read items.write", "profile")  # POST /items: the rule's scope and the dependency's
    assert challenges[1:] == [scope_challenge.format(description, s) for s in needed]
    body = {"error": "insufficient_scope", "error_description": description, "scope": "items.read items.write"}
    assert json.dumps(body, separators=(",", ":")) in output


CHECKS = {
    "starlette_mount": check_starlette_mount,
    "protect_starlette": check_protect_starlette,
    "fastapi_app": check_fastapi_app,
}


def test_starlette_mount_example_port_option(tmp_path: Path) -> None:
    """``--port`` moves the issuer with the listening port; imported, the example keeps the default."""
    assert load_example("starlette_mount").settings.issuer == "http://127.0.0.1:8001/oauth"
    port = free_port()
    with running([sys.executable, "examples/starlette_mount.py", "--port", str(port)], clean_env(), port, tmp_path):
        meta = httpx.get(f"http://127.0.0.1:{port}/oauth/.well-known/oauth-authorization-server", timeout=10)
    assert meta.json()["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token"


def test_remote_example_runs_as_documented(tmp_path: Path) -> None:
    serve_block, run_block, try_block = literal_blocks(example_doc("remote_resource_server"))
    assert serve_block.splitlines()[-1].split("#")[0].strip() == ".venv/bin/asgi-oauth serve"
    assert run_block == (
        "export RESOURCE_CLIENT_SECRET=<the printed secret>\n"
        ".venv/bin/python examples/remote_resource_server.py --port 8001"
    )
    with serving(tmp_path / "auth", clean_env()) as auth:
        secret = banner_value(auth.stdout, "client_secret")
        env = clean_env(RESOURCE_CLIENT_SECRET=secret, INTROSPECTION_URL=f"{auth.base_url}/oauth/introspect")
        port = free_port()
        argv = [sys.executable, "examples/remote_resource_server.py", "--port", str(port)]
        with running(argv, env, port, tmp_path / "rs"):
            script = try_block.replace("127.0.0.1:8000", auth.base_url.removeprefix("http://"))
            result = run_shell(script.replace("127.0.0.1:8001", f"127.0.0.1:{port}"), env)
    assert result.returncode == 0, result.stderr
    assert http_statuses(result.stdout) == [401]
    assert '"client_id":"demo-client","scopes":["read"]' in result.stdout
    assert '{"introspections":1,"cache_hits":0,"coalesced":0}' in result.stdout


async def test_sign_in_snippet_refuses_the_guessing_address_and_lets_the_known_device_in() -> None:
    (code,) = blocks(doc_section("Failed attempts"), "python")
    sign_in = exec_snippet(code, {})["sign_in"]
    statuses = [(await sign_in("alice", "guess", "127.0.0.2", None))[0] for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert await sign_in("alice", "wonderland", "127.0.0.2", None) == (429, None)
    status, cookie = await sign_in("alice", "wonderland", "127.0.0.3", None)
    assert status == 303 and cookie
    # From the guessing address, with the device cookie alice's browser got: it is her known device.
    assert (await sign_in("alice", "wonderland", "127.0.0.2", cookie))[0] == 303
    assert await sign_in("mallory", "wonderland", "127.0.0.3", None) == (401, None)


async def test_extending_snippets_add_a_grant_and_an_endpoint() -> None:
    """The documented grant, its registration line and its endpoint, executed as printed and served."""
    from asgi_oauth import MemoryStore, OAuthServer, load_settings, new_client, register_client
    from asgi_oauth.protocol.grants import DEFAULT_GRANTS

    grant, registration, endpoint = blocks(doc_section("Registries"), "python")
    namespace = exec_snippet(grant, {})
    store = MemoryStore()
    settings = load_settings(issuer="http://127.0.0.1:8001/oauth")
    namespace.update(settings=settings, store=store, OAuthServer=OAuthServer, DEFAULT_GRANTS=DEFAULT_GRANTS)
    exec_snippet(registration, namespace)
    name = namespace["READ_ONLY"].name
    client, secret = new_client(name="kiosk", grant_types=[name], extension_grants=[name], scope="read")
    await register_client(store, client)
    transport = httpx.ASGITransport(app=namespace["oauth"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        token = await http.post(
            "/token", auth=(client.client_id, secret or ""), data={"grant_type": name, "reason": "audit"}
        )
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "read"
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert name in metadata["grant_types_supported"]

    def path_item(server: object) -> dict[str, Any]:  # an EndpointSpec's openapi: the server -> its path item
        return {"post": {"responses": {"201": {"description": "registered"}}}}

    namespace.update(register_path_item=path_item)
    exec_snippet(endpoint, namespace)
    metadata = namespace["oauth"].metadata
    assert metadata["registration_endpoint"] == "http://127.0.0.1:8001/oauth/register"


async def test_openid_connect_snippet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented OpenID Connect app, as printed: discovery, sign-in, consent, an ID token that verifies
    against its JWKS, and the claims /userinfo releases."""
    import html as html_module

    import jwt

    monkeypatch.delenv("ASGI_OAUTH_REDIS_URL", raising=False)
    (snippet,) = blocks(doc_section("OpenID Connect"), "python")
    namespace = exec_snippet(snippet, {})
    secret, issuer = namespace["secret"], "http://127.0.0.1:8001/oauth"
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        metadata = (await http.get("/oauth/.well-known/openid-configuration")).json()
        inserted = await http.get("/.well-known/openid-configuration/oauth")
        assert inserted.json() == metadata and metadata["userinfo_endpoint"] == f"{issuer}/userinfo"
        verifier = "v" * 64
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": "web-app",
            "redirect_uri": "http://127.0.0.1:8002/auth/callback",
            "scope": "openid profile",
            "state": "s",
            "nonce": "n1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        to_login = await http.get("/oauth/authorize", params=query)
        assert to_login.status_code == 302 and to_login.headers["location"].startswith("/login?")
        signed_in = await http.get(to_login.headers["location"])
        consent = await http.get(signed_in.headers["location"])
        assert consent.status_code == 200, consent.text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', consent.text))
        fields = {k: html_module.unescape(v) for k, v in fields.items()} | {"decision": "allow"}
        approved = await http.post("/oauth/authorize", data=fields)
        code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
        tokens = (
            await http.post(
                "/oauth/token",
                auth=("web-app", secret),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": verifier,
                    "redirect_uri": query["redirect_uri"],
                },
            )
        ).json()
        jwks = (await http.get("/oauth/jwks")).json()
        key = jwt.PyJWK(jwks["keys"][0])
        claims = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience="web-app", issuer=issuer)
        assert claims["sub"] == "alice" and claims["nonce"] == "n1" and "auth_time" in claims
        info = await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert info.json() == {"sub": "alice", "name": "Alice Liddell"}  # profile only: no email
    await namespace["oauth"].aclose()
