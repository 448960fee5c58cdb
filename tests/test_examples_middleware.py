"""The resource-server examples do what their docstrings say, through the real apps.

``protect_starlette`` and ``fastapi_app`` are imported and driven over httpx's ASGI transport;
``remote_resource_server`` runs as ``python examples/remote_resource_server.py`` next to a real
``asgi-oauth serve``, both as subprocesses, configured the way its docstring tells a reader to.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from .middleware.helpers import bearer, challenge
from .serving import ROOT, banner_value, clean_env, free_port, load_example, running, serving


@pytest.fixture(autouse=True)
def _no_example_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples read EXAMPLE_CLIENT_SECRET; the tests use their built-in defaults."""
    monkeypatch.delenv("EXAMPLE_CLIENT_SECRET", raising=False)


@asynccontextmanager
async def over_asgi(module: ModuleType) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        yield http
    await module.oauth.aclose()


async def client_token(http: httpx.AsyncClient, module: ModuleType, scope: str) -> str:
    response = await http.post(
        "/oauth/token",
        auth=(module.CLIENT_ID, module.CLIENT_SECRET),
        data={"grant_type": "client_credentials", "scope": scope},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def check_docstring(module: ModuleType, run_command: str) -> None:
    doc = module.__doc__
    assert doc is not None
    assert run_command in doc
    assert "curl" in doc
    source = Path(module.__file__ or "").read_text()
    assert 'if __name__ == "__main__":\n    uvicorn.run(' in source


async def test_protect_starlette_example() -> None:
    example = load_example("protect_starlette")
    check_docstring(example, ".venv/bin/python examples/protect_starlette.py --port 8001")
    async with over_asgi(example) as http:
        assert (await http.get("/")).status_code == 200
        missing = await http.get("/api/notes")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="notes"'

        reader = await client_token(http, example, "notes.read")
        listed = await http.get("/api/notes", headers=bearer(reader))
        assert listed.status_code == 200, listed.text
        assert listed.json()["client_id"] == "notes-cli"
        assert listed.json()["scopes"] == ["notes.read"]
        refused = await http.post("/api/notes", headers=bearer(reader), json={"text": "hello"})
        assert refused.status_code == 403
        assert challenge(refused)["scope"] == "notes.read notes.write"

        writer = await client_token(http, example, "notes.read notes.write")
        created = await http.post("/api/notes", headers=bearer(writer), json={"text": "hello"})
        assert created.status_code == 201, created.text
        assert created.json() == {"text": "hello", "by": "notes-cli"}
        texts = [n["text"] for n in (await http.get("/api/notes", headers=bearer(writer))).json()["notes"]]
        assert texts[-1] == "hello"
        assert (await http.get("/api/whoami", headers=bearer(writer))).json() == {
            "user": "notes-cli",
            "scopes": ["notes.read", "notes.write"],
        }

        # revocation, as the docstring shows it, takes effect on the next request
        revoked = await http.post(
            "/oauth/revoke", auth=(example.CLIENT_ID, example.CLIENT_SECRET), data={"token": reader}
        )
        assert revoked.status_code == 200
        gone = await http.get("/api/notes", headers=bearer(reader))
        assert gone.status_code == 401
        assert challenge(gone)["error"] == "invalid_token"


async def test_fastapi_example() -> None:
    example = load_example("fastapi_app")
    check_docstring(example, ".venv/bin/python examples/fastapi_app.py --port 8001")
    async with over_asgi(example) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/openapi.json")).status_code == 200  # the docs are not behind a rule
        assert (await http.get("/items")).status_code == 401
        assert (await http.get("/items", headers=bearer("junk"))).status_code == 401

        reader = await client_token(http, example, "items.read")
        listed = await http.get("/items", headers=bearer(reader))
        assert listed.status_code == 200, listed.text
        assert listed.json()["client_id"] == "inventory"
        assert listed.json()["items"][0]["name"] == "desk"

        # the dependency: items.write is missing; the answer names every scope the request needs, the rule's
        # items.read too, as a rule naming both would (RFC 6750 section 3.1)
        refused = await http.post("/items", headers=bearer(reader), json={"name": "lamp"})
        assert refused.status_code == 403
        # Exactly the middleware's RFC 6750 answer, as the decorator below gives it.
        description = "the access token lacks a required scope"
        assert challenge(refused) == {
            "realm": "inventory",
            "error": "insufficient_scope",
            "error_description": description,
            "scope": "items.read items.write",
        }
        assert refused.json() == {
            "error": "insufficient_scope",
            "error_description": description,
            "scope": "items.read items.write",
        }
        assert refused.headers["cache-control"] == "no-store"
        # the decorator on a path no rule covers: validated on demand
        assert (await http.get("/me")).status_code == 401
        me_refused = await http.get("/me", headers=bearer(reader))
        assert me_refused.status_code == 403
        assert challenge(me_refused)["scope"] == "profile"
        assert me_refused.headers.keys() == refused.headers.keys()

        writer = await client_token(http, example, "items.read items.write profile")
        created = await http.post("/items", headers=bearer(writer), json={"name": "lamp"})
        assert created.status_code == 201, created.text
        assert created.json() == {"id": 2, "name": "lamp", "added_by": "inventory"}
        invalid = await http.post("/items", headers=bearer(writer), json={"name": ""})
        assert invalid.status_code == 422  # FastAPI's validation runs after the token checks passed
        me = await http.get("/me", headers=bearer(writer))
        assert me.status_code == 200, me.text
        assert me.json()["client_id"] == "inventory"
        assert me.json()["scopes"] == ["items.read", "items.write", "profile"]


async def test_remote_resource_server_example(tmp_path: Path) -> None:
    module_doc = (ROOT / "examples" / "remote_resource_server.py").read_text()
    assert "export RESOURCE_CLIENT_SECRET=<the printed secret>" in module_doc
    with serving(tmp_path / "auth", clean_env()) as auth:
        client_id = banner_value(auth.stdout, "client_id")
        secret = banner_value(auth.stdout, "client_secret")
        assert client_id == "demo-client"
        port = free_port()
        env = clean_env(
            INTROSPECTION_URL=f"{auth.base_url}/oauth/introspect",
            RESOURCE_CLIENT_ID=client_id,
            RESOURCE_CLIENT_SECRET=secret,
            PORT=str(port),
        )
        argv = [sys.executable, "examples/remote_resource_server.py"]
        with running(argv, env, port, tmp_path / "rs") as rs:
            async with httpx.AsyncClient(timeout=10) as http:

                async def token(scope: str) -> str:
                    response = await http.post(
                        f"{auth.base_url}/oauth/token",
                        auth=(client_id, secret),
                        data={"grant_type": "client_credentials", "scope": scope},
                    )
                    assert response.status_code == 200, response.text
                    value: str = response.json()["access_token"]
                    return value

                async def stats() -> dict[str, int]:
                    body: dict[str, int] = (await http.get(f"{rs.base_url}/stats")).json()
                    return body

                missing = await http.get(f"{rs.base_url}/api/whoami")
                assert missing.status_code == 401
                assert missing.headers["www-authenticate"] == 'Bearer realm="asgi_oauth"'
                assert await stats() == {"introspections": 0, "cache_hits": 0, "coalesced": 0}

                reader = await token("read")
                ok = await http.get(f"{rs.base_url}/api/whoami", headers=bearer(reader))
                assert ok.status_code == 200, ok.text
                assert ok.json()["client_id"] == "demo-client"
                assert ok.json()["scopes"] == ["read"]
                again = await http.get(f"{rs.base_url}/api/whoami", headers=bearer(reader))
                assert again.json() == ok.json()
                assert await stats() == {"introspections": 1, "cache_hits": 1, "coalesced": 0}

                writer = await token("write")
                refused = await http.get(f"{rs.base_url}/api/whoami", headers=bearer(writer))
                assert refused.status_code == 403
                assert challenge(refused)["scope"] == "read"
                junk = await http.get(f"{rs.base_url}/api/whoami", headers=bearer("junk"))
                assert junk.status_code == 401
                assert challenge(junk)["error"] == "invalid_token"

                # many requests with one new token, over real connections: one introspection call
                fresh = await token("read")
                before = await stats()
                answers = await asyncio.gather(
                    *(http.get(f"{rs.base_url}/api/whoami", headers=bearer(fresh)) for _ in range(20))
                )
                assert [a.status_code for a in answers] == [200] * 20
                after = await stats()
                assert after["introspections"] == before["introspections"] + 1
                served_without_a_call = (after["coalesced"] - before["coalesced"]) + (
                    after["cache_hits"] - before["cache_hits"]
                )
                assert served_without_a_call == 19


def test_remote_example_refuses_to_start_without_a_secret() -> None:
    result = subprocess.run(
        [sys.executable, "examples/remote_resource_server.py"],
        cwd=ROOT,
        env=clean_env(PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "RESOURCE_CLIENT_SECRET" in result.stderr
