"""POST /introspect (RFC 7662) through the mounted app, on both stores."""

from __future__ import annotations

import asyncio
import time

import pytest

from asgi_oauth import crypto
from asgi_oauth.models import scope_set

from .conftest import MakeServer
from .helpers import INTROSPECT, ISSUER, Server, assert_error

INACTIVE = {"active": False}


async def test_active_access_token_of_a_user(server: Server) -> None:
    before = int(time.time())
    tokens = await server.password_tokens(scope="read email")

    response = await server.post(INTROSPECT, {"token": tokens["access_token"]}, client="rs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"active", "scope", "client_id", "sub", "username", "token_type", "exp", "iat", "iss"}
    assert body["active"] is True
    assert scope_set(body["scope"]) == {"read", "email"}
    assert body["client_id"] == "app"
    assert body["sub"] == "u-alice"
    assert body["username"] == "alice"
    assert body["token_type"] == "Bearer"
    assert body["iss"] == ISSUER
    assert isinstance(body["iat"], int)
    assert isinstance(body["exp"], int)
    assert before - 1 <= body["iat"] <= time.time() + 1
    assert body["exp"] - body["iat"] in (3599, 3600, 3601)


async def test_active_client_credentials_token_has_no_user(server: Server) -> None:
    tokens = await server.token_ok("m2m", grant_type="client_credentials", scope="read")

    body = await server.introspect(tokens["access_token"])

    assert set(body) == {"active", "scope", "client_id", "token_type", "exp", "iat", "iss"}
    assert (body["active"], body["client_id"], body["scope"], body["token_type"]) == (True, "m2m", "read", "Bearer")


async def test_active_refresh_token(server: Server) -> None:
    tokens = await server.password_tokens()

    body = await server.introspect(tokens["refresh_token"])

    assert body["active"] is True
    assert body["client_id"] == "app"
    assert body["sub"] == "u-alice"
    assert body["iss"] == ISSUER
    assert scope_set(body["scope"]) == {"read", "write", "email"}
    assert body["exp"] - body["iat"] in range(14 * 86400 - 1, 14 * 86400 + 2)
    # Whatever it is called, it must not pass for a bearer access token.
    assert body["token_type"] != "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "not-a-token",
        "A" * 22 + "." + "B" * 43,  # well-formed but never issued
        "A" * 22 + "." + "B" * 44,
        "." * 66,
        "é" * 66,
        "a" * 10_000,
        "Bearer abc",
    ],
)
async def test_unknown_or_malformed_tokens_are_inactive(server: Server, token: str) -> None:
    assert await server.introspect(token) == INACTIVE


async def test_a_tampered_token_is_inactive(server: Server) -> None:
    token = (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert await server.introspect(flipped) == INACTIVE
    assert (await server.introspect(token))["active"] is True


async def test_missing_token_parameter_is_invalid_request(server: Server) -> None:
    assert_error(await server.post(INTROSPECT, {}, client="rs"), "invalid_request")
    assert_error(await server.post(INTROSPECT, {"token": ""}, client="rs"), "invalid_request")


async def test_expired_access_token_is_inactive(make_server: MakeServer) -> None:
    server = await make_server(enable_password_grant=True, access_token_lifetime=0.2)
    m2m = (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]
    user = await server.password_tokens()
    assert await server.active(m2m)
    assert await server.active(user["access_token"])

    await asyncio.sleep(0.35)

    assert await server.introspect(m2m) == INACTIVE
    assert await server.introspect(user["access_token"]) == INACTIVE
    # The refresh token outlives its access token and still gets a fresh one.
    assert await server.active(user["refresh_token"])
    refreshed = (await server.refresh(user["refresh_token"])).json()
    assert await server.active(refreshed["access_token"])


async def test_revoked_token_is_inactive(server: Server) -> None:
    tokens = await server.token_ok("m2m", grant_type="client_credentials")
    assert (await server.revoke(tokens["access_token"], "m2m")).status_code == 200

    assert await server.introspect(tokens["access_token"]) == INACTIVE


async def test_token_type_hint_is_only_a_hint(server: Server) -> None:
    tokens = await server.password_tokens()

    for hint in ["access_token", "refresh_token", "id_token", "garbage"]:
        assert (await server.introspect(tokens["access_token"], token_type_hint=hint))["token_type"] == "Bearer"
        assert (await server.introspect(tokens["refresh_token"], token_type_hint=hint))["active"] is True


# -- the scope parameter ---------------------------------------------------------------------------


async def test_scope_parameter_requires_every_listed_scope(server: Server) -> None:
    token = (await server.token_ok("m2m", grant_type="client_credentials", scope="read admin:users"))["access_token"]

    for held in ["read", "admin:users", "admin:users read", "read  read"]:
        body = await server.introspect(token, scope=held)
        assert body["active"] is True, held
        assert scope_set(body["scope"]) == {"read", "admin:users"}
    for missing in ["write", "read write", "admin", "admin:users:write", "READ"]:
        assert await server.introspect(token, scope=missing) == INACTIVE, missing


async def test_scope_parameter_on_a_refresh_token(server: Server) -> None:
    tokens = await server.password_tokens(scope="read")

    assert (await server.introspect(tokens["refresh_token"], scope="read"))["active"] is True
    assert await server.introspect(tokens["refresh_token"], scope="write") == INACTIVE


# -- who may see what ------------------------------------------------------------------------------


async def test_a_client_sees_its_own_tokens(server: Server) -> None:
    own = await server.password_tokens("app")

    assert (await server.introspect(own["access_token"], client="app"))["active"] is True
    assert (await server.introspect(own["refresh_token"], client="app"))["active"] is True


async def test_a_plain_client_cannot_see_another_clients_token(server: Server) -> None:
    theirs = await server.password_tokens("app")
    m2m = (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]

    assert await server.introspect(theirs["access_token"], client="app-post") == INACTIVE
    assert await server.introspect(theirs["refresh_token"], client="m2m") == INACTIVE
    assert await server.introspect(m2m, client="app") == INACTIVE
    # ...while the token is, in fact, active.
    assert await server.active(theirs["access_token"])
    assert await server.active(m2m)


async def test_a_resource_server_client_sees_every_clients_tokens(server: Server) -> None:
    assert server.clients["rs"].client.introspect_any is True
    user = await server.password_tokens("app-post")
    m2m = (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]

    assert (await server.introspect(user["access_token"], client="rs"))["client_id"] == "app-post"
    assert (await server.introspect(user["refresh_token"], client="rs"))["client_id"] == "app-post"
    assert (await server.introspect(m2m, client="rs"))["client_id"] == "m2m"


async def test_public_clients_cannot_introspect(server: Server) -> None:
    own = await server.password_tokens("public")

    response = await server.post(INTROSPECT, {"token": own["access_token"]}, client="public")

    assert_error(response, "invalid_client", 401)


async def test_introspection_needs_client_authentication(server: Server) -> None:
    token = (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]

    response = await server.http.post(INTROSPECT, data={"token": token})

    assert_error(response, "invalid_client", 401)
    assert token not in response.text
    assert "www-authenticate" in response.headers


async def test_a_token_minted_outside_the_server_is_inactive(server: Server) -> None:
    _, forged = crypto.new_token()

    assert await server.introspect(forged) == INACTIVE
