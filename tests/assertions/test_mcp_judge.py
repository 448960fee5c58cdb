"""The ``mcp`` SDK's assertion clients (nobody here wrote them) call tools of the README's MCP server: its
``PrivateKeyJWTOAuthProvider`` (``private_key_jwt``) and its ``IdentityAssertionOAuthProvider`` (an ID-JAG through
the JWT bearer grant, MCP's enterprise-managed authorization).

The README's ``mcp`` SDK server file runs with the README's command on two workers sharing Redis. With
``ASGI_OAUTH_FEATURES=private_key_jwt`` and a client created by ``asgi-oauth clients create --auth-method
private_key_jwt --jwks FILE``, the SDK discovers the authorization server from the MCP server, signs its
assertion (``aud`` the issuer, as MCP's client credentials extension asks) and calls a tool that needs both of
its scopes. With ``ASGI_OAUTH_FEATURES=jwt_bearer`` and one trusted identity provider, the SDK is handed an
ID-JAG that provider signed for a user, exchanges it at the configured issuer and calls the same tool.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx2
import pytest
from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ..mcp.test_readme_servers import env_for, readme_command, readme_file
from ..mcp.test_sdk_client_served import Storage
from ..serving import free_port, run_cli, running
from .signing import Signer, id_jag

pytestmark = pytest.mark.slow
AGENT = "keyed-agent"
ENTERPRISE_AGENT = "enterprise-agent"
IDP = "https://idp.example.com"


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


@pytest.fixture(scope="module")
def enterprise(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[str, Signer, str]]:
    """The same README server trusting one enterprise identity provider (``ASGI_OAUTH_ASSERTION_ISSUERS``), with
    a confidential client registered for the JWT bearer grant."""
    app_dir = tmp_path_factory.mktemp("mcp-id-jag")
    (app_dir / "server.py").write_text(readme_file("sdk"))
    port = free_port()
    idp = Signer.new("ES256")
    trusted = [{"issuer": IDP, "jwks": idp.jwks()}]
    env = env_for(redis_url, port, f"idjag{uuid.uuid4().hex[:10]}")
    env |= {"ASGI_OAUTH_FEATURES": "jwt_bearer", "ASGI_OAUTH_ASSERTION_ISSUERS": json.dumps(trusted)}
    created = run_cli(
        "clients", "create", "--name", "Enterprise agent", "--client-id", ENTERPRISE_AGENT, "--grant-type",
        "jwt-bearer", "--scope", "mcp admin", "--auth-method", "client_secret_post", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ready = "/.well-known/oauth-protected-resource/mcp"
    with running(readme_command(port, app_dir), env, port, app_dir, ready_path=ready, workers=2):
        yield f"http://127.0.0.1:{port}", idp, json.loads(created.stdout)["client_secret"]


async def test_the_sdk_identity_assertion_provider_calls_a_tool(enterprise: tuple[str, Signer, str]) -> None:
    """SEP-990 leg 2: the SDK presents an ID-JAG the identity provider signed for alice and calls tools."""
    base, idp, secret = enterprise
    asked: list[tuple[str, str]] = []

    async def from_the_identity_provider(audience: str, resource: str) -> str:
        asked.append((audience, resource))  # the enterprise IdP's token exchange (leg 1) stands here
        return id_jag(idp, IDP, user="alice", client_id=ENTERPRISE_AGENT, audience=audience, resource=resource,
                      scope="mcp admin")  # fmt: skip

    provider = IdentityAssertionOAuthProvider(
        f"{base}/mcp",
        Storage(),
        ENTERPRISE_AGENT,
        secret,
        f"{base}/oauth",
        from_the_identity_provider,
        scope="mcp admin",
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
    assert asked == [(f"{base}/oauth", f"{base}/mcp")]
