"""POST /token (RFC 6749 sections 3.2, 4.3, 4.4, 5, 6) through the mounted app, on both stores."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from asgi_oauth.models import scope_set

from .conftest import MakeServer
from .helpers import TOKEN, USERS, Server, assert_error, register

ACCESS_FIELDS = {"access_token", "token_type", "expires_in", "scope"}
REFRESH_FIELDS = ACCESS_FIELDS | {"refresh_token", "refresh_token_expires_in"}


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# -- client_credentials (RFC 6749 section 4.4) ---------------------------------------------------


async def test_client_credentials_issues_a_bearer_token_without_refresh_token(server: Server) -> None:
    response = await server.token("m2m", grant_type="client_credentials")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert_no_store(response)
    body = response.json()
    assert set(body) == ACCESS_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 43
    introspected = await server.introspect(body["access_token"])
    assert introspected["active"] is True
    assert introspected["client_id"] == "m2m"
    assert "sub" not in introspected


async def test_client_credentials_scope_defaults_to_the_registered_scope(server: Server) -> None:
    body = await server.token_ok("m2m", grant_type="client_credentials")

    assert scope_set(body["scope"]) == {"read", "write", "admin:users", "/accounts.read"}
    assert (await server.introspect(body["access_token"]))["scope"] == body["scope"]


async def test_client_credentials_grants_a_requested_subset(server: Server) -> None:
    body = await server.token_ok("m2m", grant_type="client_credentials", scope="read  /accounts.read")

    assert scope_set(body["scope"]) == {"read", "/accounts.read"}
    assert scope_set((await server.introspect(body["access_token"]))["scope"]) == {"read", "/accounts.read"}


async def test_client_credentials_scope_outside_the_registration_is_invalid_scope(server: Server) -> None:
    response = await server.token("m2m", grant_type="client_credentials", scope="read delete")

    body = assert_error(response, "invalid_scope")
    assert "delete" in body.get("error_description", "")
    assert "access_token" not in response.text


async def test_malformed_scope_is_invalid_scope(server: Server) -> None:
    for scope in ['read "write"', "read\\write", "read\x7fwrite", "lecture-é"]:
        response = await server.token("m2m", grant_type="client_credentials", scope=scope)
        assert_error(response, "invalid_scope")


async def test_client_credentials_with_client_secret_post(server: Server) -> None:
    body = await server.token_ok("m2m-post", grant_type="client_credentials", scope="write")

    assert set(body) == ACCESS_FIELDS
    assert body["scope"] == "write"


# -- grant type dispatch ---------------------------------------------------------------------------


async def test_unknown_grant_type_is_unsupported_grant_type(server: Server) -> None:
    for grant_type in ["magic", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "CLIENT_CREDENTIALS"]:
        response = await server.token("m2m", grant_type=grant_type)
        assert_error(response, "unsupported_grant_type")


async def test_missing_grant_type_is_invalid_request(server: Server) -> None:
    assert_error(await server.token("m2m"), "invalid_request")
    assert_error(await server.token("m2m", grant_type=""), "invalid_request")


async def test_grant_the_client_is_not_registered_for_is_unauthorized_client(server: Server) -> None:
    # m2m is registered for client_credentials only; app for password and refresh_token only.
    password = {"username": "alice", "password": "wonderland"}
    assert_error(await server.token("m2m", grant_type="password", **password), "unauthorized_client")
    assert_error(await server.token("m2m", grant_type="refresh_token", refresh_token="x"), "unauthorized_client")
    assert_error(await server.token("app", grant_type="client_credentials"), "unauthorized_client")
    assert_error(await server.token("web", grant_type="client_credentials"), "unauthorized_client")


# -- password (RFC 6749 section 4.3) ---------------------------------------------------------------


async def test_password_grant_is_off_by_default(make_server: MakeServer) -> None:
    server = await make_server()
    assert server.oauth.settings.enable_password_grant is False

    response = await server.token("app", grant_type="password", username="alice", password="wonderland")

    assert_error(response, "unsupported_grant_type")


async def test_password_grant_issues_access_and_refresh_tokens(server: Server) -> None:
    response = await server.token("app", grant_type="password", username="alice", password="wonderland")

    assert response.status_code == 200, response.text
    assert_no_store(response)
    body = response.json()
    assert set(body) == REFRESH_FIELDS
    assert body["token_type"] == "Bearer"
    assert scope_set(body["scope"]) == {"read", "write", "email"}
    assert body["refresh_token_expires_in"] == 14 * 86400
    assert body["refresh_token"] != body["access_token"]
    introspected = await server.introspect(body["access_token"])
    assert introspected["sub"] == "u-alice"
    assert introspected["username"] == "alice"


async def test_password_grant_needs_the_client_to_be_allowed_it(server: Server) -> None:
    # The setting is on, but these clients were not registered for the password grant.
    assert_error(
        await server.token("m2m", grant_type="password", username="alice", password="wonderland"),
        "unauthorized_client",
    )
    assert_error(
        await server.token("web", grant_type="password", username="alice", password="wonderland"),
        "unauthorized_client",
    )


async def test_password_grant_refuses_wrong_credentials(server: Server) -> None:
    for username, password in [("alice", "wrong"), ("alice", "Wonderland"), ("nobody", "wonderland"), ("bob", "x")]:
        response = await server.token("app", grant_type="password", username=username, password=password)
        assert_error(response, "invalid_grant")
        assert "access_token" not in response.text


async def test_password_grant_requires_username_and_password(server: Server) -> None:
    assert_error(await server.token("app", grant_type="password", password="wonderland"), "invalid_request")
    assert_error(await server.token("app", grant_type="password", username="alice"), "invalid_request")
    # An empty parameter counts as missing (RFC 6749 section 3.1).
    assert_error(await server.token("app", grant_type="password", username="bob", password=""), "invalid_request")


async def test_password_grant_scope_is_checked_against_the_client(server: Server) -> None:
    body = await server.password_tokens(scope="email")
    assert body["scope"] == "email"

    response = await server.token("app", grant_type="password", username="alice", password="wonderland", scope="admin")
    assert_error(response, "invalid_scope")


async def test_password_grant_without_refresh_registration_issues_no_refresh_token(server: Server) -> None:
    body = await server.password_tokens("app-no-refresh")

    assert set(body) == ACCESS_FIELDS


async def test_password_grant_user_without_username_introspects_with_sub(server: Server) -> None:
    body = await server.password_tokens(username="bob")

    introspected = await server.introspect(body["access_token"])
    assert introspected["sub"] == "u-bob"
    assert introspected["username"] == "u-bob"


async def test_password_grant_for_a_public_client(server: Server) -> None:
    body = await server.password_tokens("public")

    assert set(body) == REFRESH_FIELDS
    refreshed = await server.refresh(body["refresh_token"], client="public")
    assert refreshed.status_code == 200, refreshed.text


async def test_password_grant_without_a_verifier_refuses_to_start(make_server: MakeServer) -> None:
    with pytest.raises(ValueError, match="password_verifier"):
        await make_server(enable_password_grant=True, password_verifier=None)


# -- refresh_token (RFC 6749 section 6, RFC 9700 section 4.14.2) -----------------------------------


async def test_refresh_rotates_the_refresh_token(server: Server) -> None:
    first = await server.password_tokens()

    response = await server.refresh(first["refresh_token"])

    assert response.status_code == 200, response.text
    assert_no_store(response)
    second = response.json()
    assert set(second) == REFRESH_FIELDS
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert scope_set(second["scope"]) == scope_set(first["scope"])
    introspected = await server.introspect(second["access_token"])
    assert (introspected["sub"], introspected["username"], introspected["client_id"]) == ("u-alice", "alice", "app")
    # The new refresh token works in turn, and is the family's only live one.
    third = await server.refresh(second["refresh_token"])
    assert third.status_code == 200, third.text
    assert await server.active(third.json()["refresh_token"])
    assert not await server.active(second["refresh_token"])


async def test_a_rotated_refresh_token_cannot_be_used_again(server: Server) -> None:
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()
    # Until reuse is detected, access tokens of the family stay valid.
    assert await server.active(first["access_token"])
    assert await server.active(second["access_token"])

    replay = await server.refresh(first["refresh_token"])

    assert_error(replay, "invalid_grant")
    assert "access_token" not in replay.text


async def test_refresh_token_reuse_revokes_the_whole_family(server: Server) -> None:
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()
    third = (await server.refresh(second["refresh_token"])).json()
    other_family = await server.password_tokens()

    assert_error(await server.refresh(first["refresh_token"]), "invalid_grant")

    # Every token the family ever issued is dead, including the current refresh token...
    for token in [first["access_token"], second["access_token"], third["access_token"], third["refresh_token"]]:
        assert await server.introspect(token) == {"active": False}
    assert_error(await server.refresh(third["refresh_token"]), "invalid_grant")
    # ...and another grant of the same user and client is untouched.
    assert await server.active(other_family["access_token"])
    assert (await server.refresh(other_family["refresh_token"])).status_code == 200


async def test_reuse_of_the_latest_spent_token_also_revokes(server: Server) -> None:
    first = await server.password_tokens()
    second = (await server.refresh(first["refresh_token"])).json()
    third = (await server.refresh(second["refresh_token"])).json()

    assert_error(await server.refresh(second["refresh_token"]), "invalid_grant")

    assert not await server.active(third["access_token"])
    assert_error(await server.refresh(third["refresh_token"]), "invalid_grant")


async def test_refresh_may_narrow_the_scope_but_the_grant_keeps_its_scope(server: Server) -> None:
    first = await server.password_tokens()

    narrowed = await server.refresh(first["refresh_token"], scope="read")

    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "read"
    assert (await server.introspect(narrowed.json()["access_token"]))["scope"] == "read"
    # RFC 6749 section 6: omitting scope means the scope originally granted.
    restored = await server.refresh(narrowed.json()["refresh_token"])
    assert scope_set(restored.json()["scope"]) == {"read", "write", "email"}


async def test_refresh_cannot_widen_the_scope(server: Server) -> None:
    first = await server.password_tokens(scope="read")

    widened = await server.refresh(first["refresh_token"], scope="read write")
    assert_error(widened, "invalid_scope")
    # Even to a scope the client is registered for: the grant was for "read" only.
    assert_error(await server.refresh(first["refresh_token"], scope="email"), "invalid_scope")

    # A refused request does not spend the refresh token.
    again = await server.refresh(first["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "read"


async def test_refresh_token_is_bound_to_its_client(server: Server) -> None:
    tokens = await server.password_tokens("app")

    stolen = await server.refresh(tokens["refresh_token"], client="app-post")

    assert_error(stolen, "invalid_grant")
    assert "access_token" not in stolen.text
    # The owner still holds a working refresh token.
    assert (await server.refresh(tokens["refresh_token"], client="app")).status_code == 200


async def test_refresh_needs_the_refresh_token_grant_registered(server: Server) -> None:
    tokens = await server.password_tokens("app-no-refresh")

    assert_error(await server.refresh(tokens["access_token"], client="app-no-refresh"), "unauthorized_client")


async def test_refresh_with_a_bad_token_is_invalid_grant(server: Server) -> None:
    tokens = await server.password_tokens()
    access = tokens["access_token"]
    family, _, secret = tokens["refresh_token"].partition(".")
    for bad in ["nope", access, f"{family}.{'A' * len(secret)}", tokens["refresh_token"] + "x", "é" * 10]:
        assert_error(await server.refresh(bad), "invalid_grant")
    assert_error(await server.refresh(""), "invalid_request")
    # None of these was a spent refresh token, so the family lives on.
    assert await server.active(access)
    assert (await server.refresh(tokens["refresh_token"])).status_code == 200


async def test_access_tokens_and_refresh_tokens_do_not_substitute(server: Server) -> None:
    tokens = await server.password_tokens()

    assert_error(await server.refresh(tokens["access_token"]), "invalid_grant")
    assert (await server.introspect(tokens["refresh_token"]))["token_type"] != "Bearer"


async def test_expired_refresh_token_is_invalid_grant(make_server: MakeServer) -> None:
    server = await make_server(enable_password_grant=True, access_token_lifetime=0.2, refresh_token_lifetime=0.3)
    tokens = await server.password_tokens()
    assert tokens["expires_in"] == 0

    await asyncio.sleep(0.45)

    assert_error(await server.refresh(tokens["refresh_token"]), "invalid_grant")
    assert await server.introspect(tokens["refresh_token"]) == {"active": False}


async def test_refresh_keeps_the_user_of_the_grant(server: Server) -> None:
    bob = await server.password_tokens(username="bob")
    refreshed = (await server.refresh(bob["refresh_token"])).json()

    introspected = await server.introspect(refreshed["access_token"])

    assert introspected["sub"] == "u-bob"
    assert introspected["sub"] != USERS["alice"][1].sub


# -- responses -------------------------------------------------------------------------------------


async def test_every_token_response_is_not_cacheable(server: Server) -> None:
    tokens = await server.password_tokens()
    responses = [
        await server.token("m2m", grant_type="client_credentials"),
        await server.refresh(tokens["refresh_token"]),
        await server.token("m2m", grant_type="client_credentials", scope="nope"),
        await server.token("m2m", grant_type="nope"),
        await server.http.post(TOKEN, data={"grant_type": "client_credentials"}),
        await server.http.get(TOKEN),
    ]
    for response in responses:
        assert_no_store(response)
        assert response.headers["content-type"] == "application/json"


async def test_tokens_are_unique_per_request(server: Server) -> None:
    bodies = [await server.token_ok("m2m", grant_type="client_credentials") for _ in range(5)]

    assert len({b["access_token"] for b in bodies}) == 5


async def test_a_client_registered_in_code_uses_the_same_rules(make_server: MakeServer) -> None:
    declared = register("svc", grant_types=["client_credentials"], scope="read")
    server = await make_server(stored=[], declared=[declared])

    assert (await server.token_ok("svc", grant_type="client_credentials"))["scope"] == "read"
    assert_error(await server.token("svc", grant_type="client_credentials", scope="write"), "invalid_scope")
