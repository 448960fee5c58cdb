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
from contextlib import contextmanager

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


@contextmanager
def readme_server(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, settings: dict[str, str], *client: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """The README's SDK server file on two workers sharing Redis with ``settings``, after ``asgi-oauth clients
    create`` with ``client``'s arguments: its URL, and what the command printed."""
    app_dir = tmp_path_factory.mktemp("mcp-assertions")
    (app_dir / "server.py").write_text(readme_file("sdk"))
    port = free_port()
    env = env_for(redis_url, port, f"assert{uuid.uuid4().hex[:10]}") | settings
    created = run_cli("clients", "create", *client, env=env)
    assert created.returncode == 0, created.stderr
    ready = "/.well-known/oauth-protected-resource/mcp"
    with running(readme_command(port, app_dir), env, port, app_dir, ready_path=ready, workers=2):
        yield f"http://127.0.0.1:{port}", json.loads(created.stdout)


async def calls_tools(base: str, provider: httpx2.Auth) -> None:
    """What each judge does once authorized: a tool that needs both of its scopes."""
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("shutdown_all", {})
        assert not result.is_error, result
        assert result.structured_content == {"result": "done"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[str, Signer]]:
    signer = Signer.new("RS256")
    keys = tmp_path_factory.mktemp("keys") / "agent.jwks.json"
    keys.write_text(json.dumps(signer.jwks()))
    client = ["--name", "Agent", "--client-id", AGENT, "--grant-type", "client_credentials", "--scope", "mcp admin",
              "--auth-method", "private_key_jwt", "--jwks", str(keys)]  # fmt: skip
    with readme_server(tmp_path_factory, redis_url, {"ASGI_OAUTH_FEATURES": "private_key_jwt"}, *client) as (base, _):
        yield base, signer


async def test_the_sdk_private_key_jwt_provider_calls_a_tool(keyed: tuple[str, Signer]) -> None:
    base, signer = keyed
    signing = SignedJWTParameters(issuer=AGENT, subject=AGENT, signing_key=signer.pem.decode())  # RS256
    assertions = signing.create_assertion_provider()
    provider = PrivateKeyJWTOAuthProvider(
        f"{base}/mcp", Storage(), AGENT, assertions, scope="mcp admin", issuer=f"{base}/oauth"
    )
    await calls_tools(base, provider)


@pytest.fixture(scope="module")
def enterprise(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[str, Signer, str]]:
    """The README server trusting one enterprise identity provider, with a confidential client of the grant."""
    idp = Signer.new("ES256")
    settings = {
        "ASGI_OAUTH_FEATURES": "jwt_bearer",
        "ASGI_OAUTH_ASSERTION_ISSUERS": json.dumps([{"issuer": IDP, "jwks": idp.jwks()}]),
    }
    client = ["--name", "Enterprise agent", "--client-id", ENTERPRISE_AGENT, "--grant-type", "jwt-bearer",
              "--scope", "mcp admin", "--auth-method", "client_secret_post"]  # fmt: skip
    with readme_server(tmp_path_factory, redis_url, settings, *client) as (base, printed):
        yield base, idp, printed["client_secret"]


async def test_the_sdk_identity_assertion_provider_calls_a_tool(enterprise: tuple[str, Signer, str]) -> None:
    """SEP-990 leg 2: the SDK presents an ID-JAG the identity provider signed for alice and calls tools."""
    base, idp, secret = enterprise
    asked: list[tuple[str, str]] = []

    async def from_the_identity_provider(audience: str, resource: str) -> str:
        asked.append((audience, resource))  # the enterprise IdP's token exchange (leg 1) stands here
        return id_jag(idp, IDP, client_id=ENTERPRISE_AGENT, audience=audience, resource=resource, scope="mcp admin")

    issuer = f"{base}/oauth"
    provider = IdentityAssertionOAuthProvider(
        f"{base}/mcp", Storage(), ENTERPRISE_AGENT, secret, issuer, from_the_identity_provider, scope="mcp admin"
    )
    await calls_tools(base, provider)
    assert asked == [(issuer, f"{base}/mcp")]
