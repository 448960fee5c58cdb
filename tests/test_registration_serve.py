"""Dynamic registration on ``asgi-oauth serve`` with two workers on Redis: a client registered through one
worker gets tokens from the other, and ``asgi-oauth clients list`` shows it as dynamic."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .docs.pages import blocks, doc_section, exports_of
from .serving import clean_env, run_cli, run_shell, serving

SECRET_KEY = "registration-test-key-0123456789abcdefghij"


def test_registered_on_one_worker_used_on_the_other(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_ENABLE_DYNAMIC_REGISTRATION="true",
        ASGI_OAUTH_DYNAMIC_REGISTRATION_SCOPES="read write",
    )
    with serving(tmp_path, env, workers=2) as server:
        metadata = httpx.get(f"{server.issuer}/.well-known/oauth-authorization-server").json()
        assert metadata["registration_endpoint"] == f"{server.issuer}/register"
        registered = httpx.post(
            metadata["registration_endpoint"],
            json={"grant_types": ["client_credentials"], "scope": "read", "client_name": "Worker test"},
        )
        assert registered.status_code == 201, registered.text
        body = registered.json()
        assert body["scope"] == "read write"  # registered for the whole cap, whatever subset it asked for
        registered_on = registered.headers["x-demo-worker"]

        # Each request on a new connection, until the other worker has answered (bounded).
        served_by = set()
        for _ in range(200):
            response = httpx.post(
                f"{server.issuer}/token",
                data={"grant_type": "client_credentials"},
                auth=(body["client_id"], body["client_secret"]),
            )
            assert response.status_code == 200, response.text
            assert response.json()["scope"] == "read write"
            served_by.add(response.headers["x-demo-worker"])
            if served_by - {registered_on}:
                break
        assert served_by - {registered_on}, "uvicorn never handed a connection to the other worker"

    listed = run_cli("clients", "list", env=clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix))
    assert listed.returncode == 0, listed.stderr
    (dynamic,) = [c for c in json.loads(listed.stdout) if c["client_id"] == body["client_id"]]
    assert dynamic["dynamic"] is True
    assert dynamic["name"] == "Worker test"
    assert dynamic["unused_expires_at"] is None  # it got tokens, so it stays
    assert body["client_secret"] not in listed.stdout


def test_the_readme_setup_registers_an_mcp_client(tmp_path: Path) -> None:
    """The README's "Dynamic client registration" block, as written: its exports configure ``serve``, its
    ``curl`` registers a public client."""
    (block,) = blocks(doc_section("Dynamic client registration"), "sh")
    env = clean_env(**exports_of(block))
    curl = block[block.index("curl ") :]
    with serving(tmp_path, env) as server:
        port = server.base_url.rsplit(":", 1)[1]
        result = run_shell(curl.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), clean_env())
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["token_endpoint_auth_method"] == "none"
    assert body["scope"] == "mcp:tools mcp:resources"
    assert body["redirect_uris"] == ["http://127.0.0.1:33418/callback"]
    assert "client_secret" not in body
