"""``examples/mcp_server.py`` (the ``mcp`` SDK) and ``examples/fastmcp_server.py`` (FastMCP) run as documented, on
two workers sharing Redis, each one call away from the authorization server that issues its tokens.

A token for the MCP resource opens the tool; no token is a 401 naming the protected resource metadata; a
token bound to another resource (RFC 8707), or to none, is refused; an unreachable store is a 503, never a
401 that would send clients to sign in again.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_oauth import AccessToken, RedisStore, crypto

from ..serving import Server, clean_env, free_port, running
from ..test_serve import SECRET_KEY

pytestmark = pytest.mark.slow

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
WHOAMI = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}


class Example:
    def __init__(self, server: Server, port: int, key_prefix: str) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{port}"
        self.resource = f"{self.base}/mcp"
        self.key_prefix = key_prefix

    def token(self, **params: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "scope": "mcp", **params}
        auth = ("mcp-example", "example-secret-change-me")
        return httpx.post(f"{self.base}/oauth/token", data=form, auth=auth, timeout=10)

    def call(self, token: str | None, body: dict[str, Any] = WHOAMI) -> httpx.Response:
        headers = dict(HEADERS)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        # A new connection each time, so both workers answer over the run.
        with httpx.Client(timeout=10) as http:
            return http.post(f"{self.base}/mcp", json=body, headers=headers)


@pytest.fixture(scope="module", params=["mcp_server", "fastmcp_server"])
def example(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Example]:
    port = free_port()
    key_prefix = f"mcpx{uuid.uuid4().hex[:10]}"
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_SECRET_KEY=SECRET_KEY, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    argv = [sys.executable, f"examples/{request.param}.py", "--port", str(port), "--workers", "2"]
    logs = tmp_path_factory.mktemp(request.param)
    with running(argv, env, port, logs, ready_path="/.well-known/oauth-protected-resource/mcp", workers=2) as server:
        yield Example(server, port, key_prefix)


def test_a_token_for_the_mcp_resource_calls_the_tool_on_either_worker(example: Example) -> None:
    issued = example.token(resource=example.resource)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    for _ in range(6):
        answer = example.call(token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["structuredContent"] == {"client_id": "mcp-example", "subject": None}


def test_discovery_from_the_mcp_endpoint_to_the_authorization_server(example: Example) -> None:
    refused = example.call(None)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    prm_url = f"{example.base}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{prm_url}"' in challenge
    prm = httpx.get(prm_url, timeout=10).json()
    assert prm["resource"] == example.resource
    assert prm["authorization_servers"] == [f"{example.base}/oauth"]
    metadata = httpx.get(f"{example.base}/.well-known/oauth-authorization-server/oauth", timeout=10).json()
    assert metadata["issuer"] == prm["authorization_servers"][0]
    assert metadata["code_challenge_methods_supported"] == ["S256"]


async def test_tokens_for_another_resource_or_none_are_refused(example: Example, redis_url: str) -> None:
    unbound = example.token()  # no resource named: the token has no audience
    assert unbound.status_code == 200, unbound.text
    assert example.call(unbound.json()["access_token"]).status_code == 401
    assert example.token(resource="https://elsewhere.example/mcp").json()["error"] == "invalid_target"
    # A token this authorization server issued for another resource server, as it would for one it serves too.
    family_id, other = crypto.new_token()
    record = AccessToken("mcp-example", "mcp", None, 0, 4_000_000_000, resource="https://elsewhere.example/mcp")
    store = RedisStore.from_url(redis_url, key_prefix=example.key_prefix)
    try:
        await store.put_access(family_id, crypto.digest(other, "access"), record)
    finally:
        await store.aclose()
    assert example.call(other).status_code == 401


def test_an_admin_tool_asks_a_token_without_its_scope_to_step_up(example: Example) -> None:
    call = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "worker_count", "arguments": {}}}
    narrow = example.token(resource=example.resource, scope="mcp").json()["access_token"]
    refused = example.call(narrow, call)
    assert refused.status_code == 403, refused.text
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp mcp:admin"' in challenge
    assert f'resource_metadata="{example.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    # Other tools still answer that token; a token with both scopes calls the admin tool.
    assert example.call(narrow).status_code == 200
    wide = example.token(resource=example.resource, scope="mcp mcp:admin").json()["access_token"]
    answer = example.call(wide, call)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["structuredContent"] == {"result": 2}


def test_a_revoked_or_expired_token_is_refused_at_once_on_every_worker(example: Example) -> None:
    issued = example.token(resource=example.resource).json()["access_token"]
    for _ in range(6):  # both workers validate it, and keep it in their validation cache
        assert example.call(issued).status_code == 200
    revoked = httpx.post(
        f"{example.base}/oauth/revoke",
        data={"token": issued},
        auth=("mcp-example", "example-secret-change-me"),
        timeout=10,
    )
    assert revoked.status_code == 200
    for _ in range(6):
        refused = example.call(issued)
        assert refused.status_code == 401, refused.text
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_an_expired_token_is_refused(example: Example, redis_url: str) -> None:
    family_id, expired = crypto.new_token()
    record = AccessToken("mcp-example", "mcp", None, 0, 1_000_000_000, resource=example.resource)
    store = RedisStore.from_url(redis_url, key_prefix=example.key_prefix)
    try:
        await store.put_access(family_id, crypto.digest(expired, "access"), record)
    finally:
        await store.aclose()
    refused = example.call(expired)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_a_flood_of_metadata_document_ids_is_refused_without_a_5xx(example: Example) -> None:
    """Client ids that look like documents but describe no client: each an error page, nothing accepted."""
    with httpx.Client(timeout=10) as http:
        for n in range(60):
            answer = http.get(
                f"{example.base}/oauth/authorize",
                params={
                    "response_type": "code",
                    "client_id": f"https://flood{n}.example/client.json",
                    "redirect_uri": "http://127.0.0.1/callback",
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                },
            )
            assert answer.status_code == 400, answer.text
            assert "location" not in answer.headers


@pytest.mark.parametrize("name", ["mcp_server", "fastmcp_server"])
def test_an_unreachable_store_is_a_503_with_a_challenge(name: str, tmp_path: Path) -> None:
    port = free_port()
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = clean_env(ASGI_OAUTH_REDIS_URL=dead, ASGI_OAUTH_SECRET_KEY=SECRET_KEY, ASGI_OAUTH_REDIS_TIMEOUT="0.5")
    argv = [sys.executable, f"examples/{name}.py", "--port", str(port)]
    with running(argv, env, port, tmp_path, ready_path="/.well-known/oauth-protected-resource/mcp"):
        headers = {**HEADERS, "Authorization": f"Bearer {crypto.new_token()[1]}"}
        answer = httpx.post(f"http://127.0.0.1:{port}/mcp", json=WHOAMI, headers=headers, timeout=10)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.headers["retry-after"] == "1"
    prm = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
    assert answer.headers["www-authenticate"] == f'Bearer realm="asgi_oauth", resource_metadata="{prm}"'
