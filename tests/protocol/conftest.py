"""The protocol without HTTP: a :class:`Context` on the test's store (memory or Redis) with a clock the test moves.

The clock starts at the real time and only moves forward by less than any store TTL, so the stores (which
keep their own time) still hold what the protocol, reading the fake clock, already sees as expired.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from asgi_oauth import Client, Store, User, new_client
from asgi_oauth.protocol import authorize
from asgi_oauth.protocol.context import ClientLookup, Context
from asgi_oauth.protocol.grants import TokenResponse
from asgi_oauth.protocol.introspect import find_access_token
from asgi_oauth.protocol.params import Incoming, Params
from asgi_oauth.protocol.ratelimit import Limiter

from ..web.helpers import settings_for, verify_password

ALICE = User("u-alice", "alice")
REDIRECT = "https://web.test/cb"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def form(**params: str) -> Incoming:
    """A back-channel request carrying ``params`` as its form body."""
    return Incoming(Params(dict(params)), peer="192.0.2.1")


@dataclass
class Protocol:
    ctx: Context
    clock: FakeClock
    clients: dict[str, Client]
    secrets: dict[str, str | None]

    def auth(self, client_id: str, **params: str) -> Incoming:
        """``params`` with the client authenticating in the body (client_secret_post, or none when public)."""
        secret = self.secrets[client_id]
        credentials = {"client_id": client_id} | ({"client_secret": secret} if secret is not None else {})
        return form(**credentials, **params)

    async def code(self, client_id: str = "web", challenge: str | None = None, user: User = ALICE) -> str:
        """An authorization code, issued through the authorization endpoint's own steps."""
        # No redirect_uri: the client registered one, so the token request need not repeat it.
        query = {"response_type": "code", "client_id": client_id, "scope": "read"}
        if challenge is not None:
            query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        types = authorize.enabled_response_types(self.ctx.settings)
        request = await authorize.validate(self.ctx, Params(query), types)
        redirect = await authorize.approve(self.ctx, request, user)
        return dict(parse_qsl(urlsplit(redirect.url).query))["code"]

    async def active(self, tokens: TokenResponse) -> bool:
        """Whether the access token in ``tokens`` still validates."""
        return await find_access_token(self.ctx.store, tokens.access_token, self.clock()) is not None


def build(store: Store, **settings: Any) -> Protocol:
    clock = FakeClock()
    options: dict[str, Any] = {"token_endpoint_auth_method": "client_secret_post"}
    made = [
        new_client(name="job", client_id="job", grant_types=["client_credentials"], scope="read write", **options),
        new_client(
            name="web",
            client_id="web",
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[REDIRECT],
            scope="read write",
            **options,
        ),
        new_client(
            name="other",
            client_id="other",
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[REDIRECT],
            scope="read write",
            **options,
        ),
        new_client(name="app", client_id="app", grant_types=["password", "refresh_token"], scope="read", **options),
        new_client(name="spa", client_id="spa", public=True, grant_types=["implicit"], redirect_uris=[REDIRECT]),
    ]
    clients = {client.client_id: client for client, _ in made}
    full = settings_for(**settings)
    ctx = Context(
        settings=full,
        store=store,
        clients=ClientLookup(store, clients),
        limiter=Limiter.from_settings(store, full, clock=clock),
        clock=clock,
        password_verifier=verify_password,
    )
    return Protocol(ctx, clock, clients, {client.client_id: secret for client, secret in made})


@pytest.fixture
def proto(store: Store) -> Protocol:
    return build(store)
