"""The ``mcp`` SDK's ``PrivateKeyJWTOAuthProvider`` (nobody here wrote it) calls a tool of the README's MCP server.

The README's ``mcp`` SDK server file runs with the README's command on two workers sharing Redis, with
``ASGI_OAUTH_FEATURES=private_key_jwt``; the machine client is created with ``asgi-oauth clients create
--auth-method private_key_jwt --jwks FILE``. The SDK discovers the authorization server from the MCP server,
signs its assertion (``aud`` the issuer, as MCP's client credentials extension asks) and calls a tool that
needs both of its scopes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx2
import pytest
from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ..mcp.test_readme_servers import env_for, readme_command, readme_file
from ..mcp.test_sdk_client_served import Storage
from ..serving import free_port, run_cli, running
from .signing import Signer

pytestmark = pytest.mark.slow
AGENT = "keyed-agent"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[str, Signer]]:
    app_dir = tmp_path_factory.mktemp("mcp-private-key-jwt")
    (app_dir / "server.py").write_text(readme_file("sdk"))
    port = free_port()
    env = env_for(redis_url, port, f"pkjwt{uuid.uuid4().hex[:10]}") | {"ASGI_OAUTH_FEATURES": "private_key_jwt"}
    signer = Signer.new("RS256")
    keys = app_dir / "agent.jwks.json"
    keys.write_text(json.dumps(signer.jwks()))
    created = run_cli(
        "clients", "create", "--name", "Agent", "--client-id", AGENT, "--grant-type", "client_credentials",
        "--scope", "mcp admin", "--auth-method", "private_key_jwt", "--jwks", str(keys), env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ready = "/.well-known/oauth-protected-resource/mcp"
    with running(readme_command(port, app_dir), env, port, app_dir, ready_path=ready, workers=2):
        yield f"http://127.0.0.1:{port}", signer


async def test_the_sdk_private_key_jwt_provider_calls_a_tool(served: tuple[str, Signer]) -> None:
    base, signer = served
    signing = SignedJWTParameters(issuer=AGENT, subject=AGENT, signing_key=signer.pem.decode())  # RS256
    provider = PrivateKeyJWTOAuthProvider(
        f"{base}/mcp", Storage(), AGENT, signing.create_assertion_provider(), scope="mcp admin", issuer=f"{base}/oauth"
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("shutdown_all", {})
        assert not result.is_error, result
        assert result.structured_content == {"result": "done"}
        added = await session.call_tool("add", {"a": 20, "b": 22})
        assert added.structured_content == {"result": 42}
