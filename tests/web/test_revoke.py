"""POST /revoke (RFC 7009) through the mounted app, on both stores."""

from __future__ import annotations

import httpx
import pytest

from .helpers import REVOKE, Server, assert_error


def revoked_ok(response: httpx.Response) -> None:
    """RFC 7009 section 2.2: 200 with an empty body, whether or not anything was revoked."""
    assert response.status_code == 200, response.text
    assert response.content == b""


@pytest.mark.parametrize(
    "token",
    ["x", "A" * 22 + "." + "B" * 43, "é" * 40, "a" * 5000, "Bearer x"],
)
async def test_unknown_and_malformed_tokens_get_200_and_an_empty_body(server: Server, token: str) -> None:
    revoked_ok(await server.revoke(token, "m2m"))


async def test_revoking_an_access_token(server: Server) -> None:
    tokens = await server.token_ok("m2m", grant_type="client_credentials")
    other = await server.token_ok("m2m", grant_type="client_credentials")

    revoked_ok(await server.revoke(tokens["access_token"], "m2m"))

    assert not await server.active(tokens["access_token"])
    assert await server.active(other["access_token"])
    # Revoking twice is as fine as revoking once.
    revoked_ok(await server.revoke(tokens["access_token"], "m2m"))


async def test_revoking_an_access_token_leaves_its_refresh_token(server: Server) -> None:
    tokens = await server.password_tokens()

    revoked_ok(await server.revoke(tokens["access_token"], "app"))

    assert not await server.active(tokens["access_token"])
    assert await server.active(tokens["refresh_token"])
    refreshed = await server.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


async def test_revoking_a_refresh_token_takes_the_familys_access_tokens(server: Server) -> None:
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()
    third = (await server.refresh(second["refresh_token"])).json()
    unrelated = await server.password_tokens()

    revoked_ok(await server.revoke(third["refresh_token"], "app"))

    for token in [first["access_token"], second["access_token"], third["access_token"], third["refresh_token"]]:
        assert await server.introspect(token) == {"active": False}
    assert_error(await server.refresh(third["refresh_token"]), "invalid_grant")
    assert await server.active(unrelated["access_token"])
    assert await server.active(unrelated["refresh_token"])


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "unsupported_hint"])
async def test_the_hint_is_only_a_hint(server: Server, hint: str) -> None:
    tokens = await server.password_tokens()
    revoked_ok(await server.revoke(tokens["access_token"], "app", token_type_hint=hint))
    assert not await server.active(tokens["access_token"])
    assert await server.active(tokens["refresh_token"])

    revoked_ok(await server.revoke(tokens["refresh_token"], "app", token_type_hint=hint))
    assert not await server.active(tokens["refresh_token"])


async def test_a_client_cannot_revoke_another_clients_token(server: Server) -> None:
    user = await server.password_tokens("app")
    m2m = await server.token_ok("m2m", grant_type="client_credentials")

    # The answer does not reveal that the token exists...
    revoked_ok(await server.revoke(user["access_token"], "app-post"))
    revoked_ok(await server.revoke(user["refresh_token"], "m2m"))
    revoked_ok(await server.revoke(m2m["access_token"], "app"))
    # ...not even a resource server that may introspect everything may revoke.
    revoked_ok(await server.revoke(m2m["access_token"], "rs"))
    revoked_ok(await server.revoke(user["refresh_token"], "rs"))

    # ...and nothing was revoked.
    assert await server.active(user["access_token"])
    assert await server.active(user["refresh_token"])
    assert await server.active(m2m["access_token"])
    assert (await server.refresh(user["refresh_token"])).status_code == 200


async def test_public_clients_revoke_their_own_tokens(server: Server) -> None:
    tokens = await server.password_tokens("public")

    revoked_ok(await server.revoke(tokens["refresh_token"], "public"))

    assert not await server.active(tokens["access_token"])
    assert not await server.active(tokens["refresh_token"])


async def test_revocation_needs_client_authentication(server: Server) -> None:
    tokens = await server.token_ok("m2m", grant_type="client_credentials")

    response = await server.http.post(REVOKE, data={"token": tokens["access_token"]})
    assert_error(response, "invalid_client", 401)
    response = await server.post(REVOKE, {"token": tokens["access_token"]}, client="m2m", method="client_secret_post")
    assert_error(response, "invalid_client", 401)

    assert await server.active(tokens["access_token"])


async def test_missing_token_is_invalid_request(server: Server) -> None:
    assert_error(await server.post(REVOKE, {}, client="m2m"), "invalid_request")
    assert_error(await server.post(REVOKE, {"token": ""}, client="m2m"), "invalid_request")


async def test_revoking_one_access_token_of_a_family_leaves_the_rest(server: Server) -> None:
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()

    revoked_ok(await server.revoke(second["access_token"], "app"))

    # Only the access token went; the refresh chain continues.
    assert not await server.active(second["access_token"])
    assert await server.active(first["access_token"])
    third = await server.refresh(second["refresh_token"])
    assert third.status_code == 200, third.text
