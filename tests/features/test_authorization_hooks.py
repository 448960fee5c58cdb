"""The authorization hooks of :mod:`asgi_oauth.features`, used by a small feature of a third party's (a "ticket"
the client sends to /authorize) through the real app on both stores: OpenID Connect is not the only one."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from asgi_oauth import User, crypto
from asgi_oauth.errors import AccessDenied
from asgi_oauth.features import AuthorizationRequest, Context, Feature, Params, SignInAgain, TokenResponse
from asgi_oauth.models import AccessToken, AuthorizationCode, Client, scope_set

from ..web.conftest import MakeServer
from ..web.helpers import basic, pkce_pair, register

CALLBACK = "https://tix.test/cb"


@dataclass(frozen=True)
class Ticket:
    value: str
    stamp: str | None = None

    def params(self) -> Mapping[str, str]:
        return {"ticket": self.value, **self.marks()}

    def marks(self) -> Mapping[str, str]:
        return {} if self.stamp is None else {"ticket_stamp": self.stamp}


class Tickets(Feature):
    """A ticket sent to /authorize: checked at the door (sign in once more), shown at the token endpoint."""

    name = "tickets"

    def __init__(self) -> None:
        self.values: list[str] = []

    async def authorization_request(
        self, ctx: Context, request: AuthorizationRequest, params: Params, sent: Params
    ) -> Ticket | None:
        value = params.get("ticket")
        return None if value is None else Ticket(value, sent.get("ticket_stamp"))

    async def authorization_user(
        self, ctx: Context, request: AuthorizationRequest, user: User | None
    ) -> SignInAgain | None:
        ticket = request.extra.get(self.name)
        if not isinstance(ticket, Ticket) or user is None or ticket.stamp is not None:
            return None
        if ticket.value == "forged":
            raise AccessDenied("that ticket is forged")
        return SignInAgain(request.with_part(self.name, replace(ticket, stamp="seen")), {"ticket_hint": ticket.value})

    async def authorization_consent(self, ctx: Context, request: AuthorizationRequest, *, known: bool) -> bool:
        ticket = request.extra.get(self.name)
        return known or (isinstance(ticket, Ticket) and ticket.value == "vip")

    async def code_extra(self, ctx: Context, request: AuthorizationRequest, user: User) -> Mapping[str, object]:
        ticket = request.extra.get(self.name)
        return {self.name: {"value": ticket.value}} if isinstance(ticket, Ticket) else {}

    def refreshable(self, ctx: Context, client: Client, scope: str) -> bool:
        return "once" not in scope_set(scope)

    async def access_token_value(self, ctx: Context, record: AccessToken, family_id: str) -> str | None:
        value = crypto.new_token(family_id)[1]
        self.values.append(value)
        return value

    async def token_fields(self, ctx: Context, client: Client, response: TokenResponse) -> Mapping[str, object]:
        issued = response.issued
        if isinstance(issued, AuthorizationCode) and self.name in issued.extra:
            return {"ticket": issued.extra[self.name]["value"]}
        return {}

    def scope_descriptions(self) -> Mapping[str, str]:
        return {"once": "Use it just once"}


async def resolve_user(request: Request) -> User | None:
    name = request.headers.get("x-test-user")
    return User(f"u-{name}", name) if name else None


async def test_a_third_party_feature_takes_part_in_the_whole_authorization(make_server: MakeServer) -> None:
    tickets = Tickets()
    client = register(
        "tix", grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope="read once"
    )
    rs = register("rs", grant_types=[], introspect_any=True)
    server = await make_server(
        stored=[client, rs],
        password_verifier=None,
        oauth_options={"user_resolver": resolve_user, "features": [tickets]},
    )
    alice = {"x-test-user": "alice"}
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": "tix", "redirect_uri": CALLBACK, "scope": "read once"}
    query |= {"code_challenge": challenge, "code_challenge_method": "S256", "state": "s1"}

    # authorization_user: sent to sign in once more, with the feature's hint; its marker comes back in next.
    first = await server.http.get("/oauth/authorize", params={**query, "ticket": "vip"}, headers=alice)
    assert first.status_code == 302, first.text
    login = parse_qs(urlsplit(first.headers["location"]).query)
    assert login["ticket_hint"] == ["vip"] and "ticket_stamp=seen" in login["next"][0]

    # authorization_consent: a vip ticket needs no consent page; code_extra keeps the ticket with the code.
    back = await server.http.get(login["next"][0], headers=alice)
    assert back.status_code == 302, back.text
    answer = parse_qs(urlsplit(back.headers["location"]).query)
    assert answer["state"] == ["s1"]
    data = {"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": CALLBACK}
    token = await server.http.post(
        "/oauth/token", data={**data, "code_verifier": verifier}, headers={"Authorization": basic("tix", client.secret)}
    )
    body = token.json()
    # token_fields sees the code; refreshable withheld the refresh token; access_token_value gave the value.
    assert token.status_code == 200 and body["ticket"] == "vip", body
    assert "refresh_token" not in body and body["access_token"] == tickets.values[-1]
    found = await server.http.post(
        "/oauth/introspect", data={"token": body["access_token"]}, headers={"Authorization": basic("rs", rs.secret)}
    )
    assert found.json()["active"] is True

    # Another ticket: the consent page, describing the feature's scope.
    plain = await server.http.get(
        "/oauth/authorize", params={**query, "ticket": "plain", "ticket_stamp": "seen"}, headers=alice
    )
    assert plain.status_code == 200 and "Use it just once" in html.unescape(plain.text)
    assert re.search(r'name="ticket_stamp" value="seen"', plain.text)

    # An error the feature raises goes back to the client, as an RFC 6749 error redirect.
    forged = await server.http.get("/oauth/authorize", params={**query, "ticket": "forged"}, headers=alice)
    assert forged.status_code == 302
    refused = parse_qs(urlsplit(forged.headers["location"]).query)
    assert refused["error"] == ["access_denied"] and refused["state"] == ["s1"]
