"""A real OAuth client library against the server: Authlib's httpx ``AsyncOAuth2Client``.

Authlib talks to the mounted app through httpx's ``ASGITransport``, so every byte it sends and parses
is what a deployed server would see and answer.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import authlib.deprecate  # installs Authlib's own warning filter now, so ours below goes on top of it
import pytest

with warnings.catch_warnings():
    # Authlib prefers its "httpx2" fork and warns when it falls back to httpx (when httpx2 is not installed).
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .conftest import MakeServer
from .helpers import BASE_URL, INTROSPECT, ISSUER, METADATA, REVOKE, TOKEN, Server

#: The httpx Authlib's client is built on: its "httpx2" fork when installed (the mcp SDK brings it), else httpx.
#: The transport must come from the same package as the client.
AUTHLIB_HTTPX = next(
    sys.modules[base.__module__.partition(".")[0]]
    for base in AsyncOAuth2Client.__mro__
    if base.__name__ == "AsyncClient"
)

TOKEN_URL = BASE_URL + TOKEN
INTROSPECT_URL = BASE_URL + INTROSPECT
REVOKE_URL = BASE_URL + REVOKE

ClientFactory = Callable[..., AsyncOAuth2Client]


async def echo_authorization(request: Request) -> JSONResponse:
    """A host-app route that shows which bearer token a client sent."""
    return JSONResponse({"authorization": request.headers.get("authorization")})


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    return await make_server(enable_password_grant=True, routes=[Route("/echo", echo_authorization)])


@pytest.fixture
async def authlib_client(server: Server) -> AsyncIterator[ClientFactory]:
    """Make Authlib clients for registered clients, wired to the app through ASGITransport."""
    made: list[AsyncOAuth2Client] = []
    transport = AUTHLIB_HTTPX.ASGITransport(app=server.app)

    def make(client_id: str, **options: Any) -> AsyncOAuth2Client:
        registered = server.clients[client_id]
        options.setdefault("client_secret", registered.secret)
        options.setdefault("token_endpoint_auth_method", registered.client.token_endpoint_auth_method)
        client = AsyncOAuth2Client(client_id=client_id, transport=transport, **options)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.aclose()


async def test_client_credentials_with_client_secret_basic(authlib_client: ClientFactory, server: Server) -> None:
    client = authlib_client("m2m", token_endpoint_auth_method="client_secret_basic")

    token = await client.fetch_token(TOKEN_URL, grant_type="client_credentials", scope="read write")

    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"read", "write"}
    assert "refresh_token" not in token
    assert token["expires_at"] > time.time() + 3000
    assert (await server.introspect(token["access_token"]))["client_id"] == "m2m"


async def test_client_credentials_with_client_secret_post(authlib_client: ClientFactory, server: Server) -> None:
    client = authlib_client("m2m-post", token_endpoint_auth_method="client_secret_post")

    token = await client.fetch_token(TOKEN_URL, grant_type="client_credentials")

    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"read", "write"}
    assert (await server.introspect(token["access_token"]))["client_id"] == "m2m-post"


async def test_wrong_secret_raises_invalid_client(authlib_client: ClientFactory) -> None:
    client = authlib_client("m2m", client_secret="not-the-secret")

    with pytest.raises(OAuthError) as raised:
        await client.fetch_token(TOKEN_URL, grant_type="client_credentials")

    assert raised.value.error == "invalid_client"


async def test_password_grant_and_refresh(authlib_client: ClientFactory, server: Server) -> None:
    client = authlib_client("app")

    first = await client.fetch_token(TOKEN_URL, username="alice", password="wonderland", scope="read email")
    assert set(first["scope"].split()) == {"read", "email"}
    assert first["refresh_token"]

    second = await client.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.token["access_token"] == second["access_token"]
    introspected = await server.introspect(second["access_token"])
    assert (introspected["sub"], introspected["username"]) == ("u-alice", "alice")

    # The rotated-away refresh token is refused, and that reuse revokes the family.
    with pytest.raises(OAuthError) as raised:
        await client.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
    assert raised.value.error == "invalid_grant"
    assert not await server.active(second["access_token"])


async def test_password_grant_with_wrong_password(authlib_client: ClientFactory) -> None:
    client = authlib_client("app-post")

    with pytest.raises(OAuthError) as raised:
        await client.fetch_token(TOKEN_URL, username="alice", password="looking-glass")

    assert raised.value.error == "invalid_grant"


async def test_expired_token_is_refreshed_automatically(authlib_client: ClientFactory, server: Server) -> None:
    updates: list[dict[str, Any]] = []

    async def update_token(token: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
        updates.append({"token": dict(token), "refresh_token": refresh_token})

    client = authlib_client("app", update_token=update_token, base_url=BASE_URL)
    client.metadata["token_endpoint"] = TOKEN_URL
    first = await client.fetch_token(TOKEN_URL, username="bob", password="builder")
    client.token["expires_at"] = int(time.time()) - 10  # as if an hour had passed

    echoed = (await client.get("/echo")).json()

    assert len(updates) == 1
    assert updates[0]["refresh_token"] == first["refresh_token"]
    assert client.token["access_token"] != first["access_token"]
    assert echoed["authorization"] == f"Bearer {client.token['access_token']}"
    assert await server.active(client.token["access_token"])
    assert await server.active(client.token["refresh_token"])


async def test_introspect_token(authlib_client: ClientFactory, server: Server) -> None:
    m2m = authlib_client("m2m")
    token = await m2m.fetch_token(TOKEN_URL, grant_type="client_credentials")
    resource_server = authlib_client("rs")

    response = await resource_server.introspect_token(INTROSPECT_URL, token=token["access_token"])

    assert response.status_code == 200
    body = response.json()
    assert (body["active"], body["client_id"], body["iss"]) == (True, "m2m", ISSUER)
    hinted = await resource_server.introspect_token(
        INTROSPECT_URL, token=token["access_token"], token_type_hint="refresh_token"
    )
    assert hinted.json()["active"] is True
    unknown = await resource_server.introspect_token(INTROSPECT_URL, token="no-such-token")
    assert unknown.json() == {"active": False}


async def test_revoke_token(authlib_client: ClientFactory, server: Server) -> None:
    client = authlib_client("app", revocation_endpoint_auth_method="client_secret_basic")
    token = await client.fetch_token(TOKEN_URL, username="alice", password="wonderland")
    client_with_post = authlib_client("m2m-post", revocation_endpoint_auth_method="client_secret_post")
    m2m_token = await client_with_post.fetch_token(TOKEN_URL, grant_type="client_credentials")

    revoked = await client.revoke_token(REVOKE_URL, token=token["access_token"], token_type_hint="access_token")
    assert (revoked.status_code, revoked.content) == (200, b"")
    assert not await server.active(token["access_token"])
    assert await server.active(token["refresh_token"])

    revoked = await client.revoke_token(REVOKE_URL, token=token["refresh_token"], token_type_hint="refresh_token")
    assert (revoked.status_code, revoked.content) == (200, b"")
    assert not await server.active(token["refresh_token"])

    revoked = await client_with_post.revoke_token(REVOKE_URL, token=m2m_token["access_token"])
    assert revoked.status_code == 200
    assert not await server.active(m2m_token["access_token"])


async def test_metadata_passes_authlibs_rfc8414_validation(server: Server) -> None:
    document = (await server.http.get(METADATA)).json()

    metadata = AuthorizationServerMetadata(document)
    metadata.validate()

    assert metadata["issuer"] == ISSUER
    assert metadata.grant_types_supported == document["grant_types_supported"]
