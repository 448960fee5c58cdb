"""RFC 8414 metadata: served under the mount, listing exactly what this server has switched on."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlsplit

import pytest

from asgi_oauth import RedisStore

from .conftest import MakeServer
from .helpers import ISSUER, METADATA, Server, build_server, register, settings_for


async def get_metadata(server: Server) -> dict[str, Any]:
    response = await server.http.get(METADATA)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_default_document(make_server: MakeServer) -> None:
    body = await get_metadata(await make_server())

    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == f"{ISSUER}/token"
    assert body["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert body["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert body["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert body["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token"]
    assert body["response_types_supported"] == ["code"]
    assert body["response_modes_supported"] == ["query"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert set(body["revocation_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    # Public clients are refused at /introspect, so "none" is not offered there.
    assert set(body["introspection_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert body["authorization_response_iss_parameter_supported"] is True


#: (enable_password_grant, enable_implicit_grant, allow_plain_pkce)
@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)), ids=repr)
async def test_document_follows_every_toggle(make_server: MakeServer, flags: tuple[bool, bool, bool]) -> None:
    password, implicit, plain = flags
    server = await make_server(enable_password_grant=password, enable_implicit_grant=implicit, allow_plain_pkce=plain)

    body = await get_metadata(server)

    grants = {"authorization_code", "client_credentials", "refresh_token"}
    grants |= {"password"} if password else set()
    grants |= {"implicit"} if implicit else set()
    assert set(body["grant_types_supported"]) == grants
    assert len(body["grant_types_supported"]) == len(grants)
    assert set(body["response_types_supported"]) == ({"code", "token"} if implicit else {"code"})
    assert set(body["response_modes_supported"]) == ({"query", "fragment"} if implicit else {"query"})
    assert set(body["code_challenge_methods_supported"]) == ({"S256", "plain"} if plain else {"S256"})


@pytest.mark.parametrize("password", [False, True])
async def test_advertised_grants_are_exactly_the_accepted_ones(make_server: MakeServer, password: bool) -> None:
    everything = register(
        "everything",
        grant_types=["authorization_code", "client_credentials", "refresh_token", "password"],
        redirect_uris=["https://everything.test/cb"],
        scope="read",
    )
    server = await make_server(stored=[everything], enable_password_grant=password)
    advertised = set((await get_metadata(server))["grant_types_supported"])

    for grant_type in ["authorization_code", "client_credentials", "refresh_token", "password", "device_code"]:
        params = {"code": "x", "refresh_token": "x", "username": "alice", "password": "wonderland"}
        response = await server.token("everything", grant_type=grant_type, **params)
        refused = response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
        assert refused == (grant_type not in advertised), (grant_type, response.text)


async def test_advertised_endpoints_are_served_under_the_mount(server: Server) -> None:
    body = await get_metadata(server)

    for key in ["token_endpoint", "introspection_endpoint", "revocation_endpoint"]:
        path = urlsplit(body[key]).path
        response = await server.http.post(path, data={})
        # Served (a protocol error from the endpoint itself), not a 404 from the host app.
        assert response.status_code in (400, 401), (key, response.status_code)
        assert "error" in response.json()


async def test_issuer_follows_the_setting(make_server: MakeServer) -> None:
    server = await make_server(issuer="https://login.example.org/tenant-a/oauth/")

    body = await get_metadata(server)

    assert body["issuer"] == "https://login.example.org/tenant-a/oauth"
    assert body["token_endpoint"] == "https://login.example.org/tenant-a/oauth/token"


async def test_head_and_post(server: Server) -> None:
    head = await server.http.head(METADATA)
    assert head.status_code == 200
    assert head.content == b""

    post = await server.http.post(METADATA)
    assert post.status_code == 405
    assert "GET" in post.headers["allow"]


async def test_metadata_needs_no_store(unreachable_store: RedisStore) -> None:
    server = build_server(unreachable_store, settings_for(enable_password_grant=True))
    try:
        body = await get_metadata(server)
    finally:
        await server.http.aclose()

    assert "password" in body["grant_types_supported"]
