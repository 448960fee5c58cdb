"""Token exchange (RFC 8693) through the real app on both stores, with requests shaped as the RFC's examples
(section 2.3): an MCP server exchanges a user's token, issued for it, for one to call a downstream API."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from asgi_oauth import OIDCSettings, OpenIDConnect, Store, new_client
from asgi_oauth.features.exchange import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, TokenExchange, may_exchange

from ..web.conftest import MakeServer
from ..web.helpers import METADATA, TOKEN, Registered, Server, default_clients

MCP = "https://mcp.example.com/mcp"
API = "https://api.example.com"


class Clock:
    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def cast() -> list[Registered]:
    def confidential(client_id: str, **options: Any) -> Registered:
        client, secret = new_client(client_id=client_id, name=client_id, scope="read write", **options)
        return Registered(client, secret)

    return [
        *default_clients(),
        confidential("mcp-server", grant_types=[TOKEN_EXCHANGE, "client_credentials"], extra=may_exchange([MCP])),
        confidential("other-server", grant_types=[TOKEN_EXCHANGE]),
        Registered(new_client(client_id="spa", name="spa", public=True, grant_types=[TOKEN_EXCHANGE])[0], None),
    ]


async def exchanging(make_server: MakeServer, clock: Clock | None = None, **settings: Any) -> Server:
    options = {"features": [TokenExchange()], "clock": clock or Clock()}
    return await make_server(stored=cast(), oauth_options=options, enable_password_grant=True, **settings)


async def user_token(server: Server, resource: str = MCP) -> dict[str, Any]:
    return await server.password_tokens(scope="read write", resource=resource)


async def exchange(server: Server, subject: str, client: str = "mcp-server", **params: str) -> httpx.Response:
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE}
    return await server.post(TOKEN, {**form, **params}, client=client)


def refused(response: httpx.Response, error: str, words: str = "") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error and "access_token" not in body, body
    assert words in body.get("error_description", ""), body


async def test_an_mcp_server_exchanges_a_users_token_for_a_downstream_one(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    subject = await user_token(server)
    answer = await exchange(server, subject["access_token"], resource=API, scope="read")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["scope"] == "read" and "refresh_token" not in body
    seen = await server.introspect(body["access_token"])
    assert seen["active"] and seen["sub"] == "u-alice" and seen["client_id"] == "mcp-server" and seen["aud"] == API
    assert seen["act"] == {"sub": "mcp-server", "client_id": "mcp-server"}
    # Exchanged again (its client's own token, for yet another resource): the chain of actors nests.
    again = await exchange(server, body["access_token"], resource="https://audit.example.com")
    assert again.status_code == 200, again.text
    nested = await server.introspect(again.json()["access_token"])
    assert nested["act"] == {"sub": "mcp-server", "client_id": "mcp-server", "act": seen["act"]}
    assert TOKEN_EXCHANGE in (await server.http.get(METADATA)).json()["grant_types_supported"]


async def test_the_exchanged_token_never_outlives_the_users(make_server: MakeServer) -> None:
    clock = Clock()
    server = await exchanging(make_server, clock, access_token_lifetime=600)
    subject = await user_token(server)
    clock.ahead = 500
    body = (await exchange(server, subject["access_token"], resource=API)).json()
    assert 0 < body["expires_in"] <= 100
    clock.ahead = 601  # the user's token has expired: so has what was exchanged for it
    assert (await server.introspect(body["access_token"]))["active"] is False


async def test_revoking_the_user_ends_what_was_exchanged(make_server: MakeServer, store: Store) -> None:
    server = await exchanging(make_server)
    subject = await user_token(server)
    exchanged = (await exchange(server, subject["access_token"], resource=API)).json()["access_token"]
    assert await store.revoke_user("u-alice") >= 1  # the grant, and the exchanged token unless it ended with it
    assert not await server.active(exchanged)


async def test_what_may_not_be_exchanged_is_refused(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    subject = (await user_token(server))["access_token"]
    elsewhere = (await user_token(server, resource="https://elsewhere.example.com"))["access_token"]
    mcp_own = (await server.token_ok("mcp-server", grant_type="client_credentials"))["access_token"]
    other_own = await server.token("other-server", grant_type="client_credentials")
    assert other_own.status_code == 400  # not registered for client_credentials: nothing of its own to act with
    cases: list[tuple[str, dict[str, str], str, str, str]] = [
        (subject, {}, "other-server", "invalid_request", "may not exchange"),
        (elsewhere, {}, "mcp-server", "invalid_request", "may not exchange"),  # issued for another audience
        ("not-a-token", {}, "mcp-server", "invalid_request", "not an active access token"),
        (subject, {"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "mcp-server",
         "invalid_request", "subject_token_type"),
        (subject, {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "mcp-server",
         "invalid_request", "requested_token_type"),
        (subject, {"scope": "read admin"}, "mcp-server", "invalid_scope", ""),
        (subject, {"audience": "billing"}, "mcp-server", "invalid_target", "absolute URI"),
        (subject, {"audience": API, "resource": "https://other.example.com"}, "mcp-server", "invalid_target", "one"),
        (subject, {"actor_token": mcp_own}, "mcp-server", "invalid_request", "together"),
        (subject, {"actor_token": subject, "actor_token_type": ACCESS_TOKEN_TYPE}, "mcp-server", "invalid_request",
         "actor_token"),
        (subject, {}, "spa", "unauthorized_client", ""),
        (subject, {}, "m2m", "unauthorized_client", ""),
    ]  # fmt: skip
    for token, params, client, error, words in cases:
        refused(await exchange(server, token, client, **params), error, words)
    revoked = await server.revoke(subject, client="app")
    assert revoked.status_code == 200
    refused(await exchange(server, subject), "invalid_request", "not an active access token")


async def test_an_actor_token_of_the_client_names_who_acts(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    subject = (await user_token(server))["access_token"]
    actor = (await server.token_ok("mcp-server", grant_type="client_credentials"))["access_token"]
    answer = await exchange(server, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE, resource=API)
    assert answer.status_code == 200, answer.text
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["act"] == {"sub": "mcp-server", "client_id": "mcp-server"}  # a client token's subject is itself


async def test_an_exchanged_jwt_access_token_carries_act_as_a_claim(make_server: MakeServer) -> None:
    """RFC 8693 section 4.1 defines ``act`` as a JWT claim: an exchanged token issued as an RFC 9068 JWT has it."""
    openid = OpenIDConnect(OIDCSettings(jwt_access_token_clients="mcp-server"))
    options = {"features": [openid, TokenExchange()], "clock": Clock()}
    server = await make_server(stored=cast(), oauth_options=options, enable_password_grant=True)
    subject = await user_token(server)
    exchanged = (await exchange(server, subject["access_token"], resource=API)).json()["access_token"]
    payload = exchanged.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["act"] == {"sub": "mcp-server", "client_id": "mcp-server"}
    assert claims["sub"] == "u-alice" and claims["client_id"] == "mcp-server" and claims["aud"] == API
    assert (await server.introspect(exchanged))["act"] == claims["act"]


async def test_revoking_the_subject_token_ends_what_was_exchanged_for_it(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    subject = await user_token(server)
    first = (await exchange(server, subject["access_token"], resource=API)).json()["access_token"]
    second = (await exchange(server, first, resource="https://audit.example.com")).json()["access_token"]
    assert await server.active(first) and await server.active(second)
    assert (await server.revoke(subject["access_token"], client="app")).status_code == 200
    assert not await server.active(first) and not await server.active(second)
    assert await server.active(subject["refresh_token"])  # the user's grant lives on: only that token ended
    refreshed = (await server.refresh(subject["refresh_token"])).json()
    third = (await exchange(server, refreshed["access_token"], resource=API)).json()["access_token"]
    # Revoking the grant (its refresh token) ends every token exchanged for any of its access tokens.
    assert (await server.revoke(refreshed["refresh_token"], client="app")).status_code == 200
    assert not await server.active(third)


async def test_revoking_the_subject_client_ends_what_was_exchanged(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    own = (await server.token_ok("mcp-server", grant_type="client_credentials"))["access_token"]
    exchanged = (await exchange(server, own, resource=API)).json()["access_token"]
    subject = await user_token(server)
    of_user = (await exchange(server, subject["access_token"], resource=API)).json()["access_token"]
    assert await server.oauth.revoke_client("app") == 1
    assert not await server.active(of_user) and await server.active(exchanged)
    assert await server.oauth.revoke_client("mcp-server") >= 1
    assert not await server.active(exchanged)
