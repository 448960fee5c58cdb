"""Driving the real server: a Starlette host app with ``OAuthServer`` mounted at ``/oauth``, over httpx.

Clients are registered through :func:`asgi_oauth.new_client`, the same path the CLI takes, and requests
authenticate the way a real client would: HTTP Basic with RFC 6749 section 2.3.1 form-url-encoding,
``client_id``/``client_secret`` in the body, or ``client_id`` alone for public clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from asgi_oauth import Client, OAuthServer, OAuthSettings, Store, User, new_client
from asgi_oauth.protocol.context import PasswordVerifier

ISSUER = "https://auth.example.test/oauth"
BASE_URL = "https://auth.example.test"
TOKEN = "/oauth/token"
INTROSPECT = "/oauth/introspect"
REVOKE = "/oauth/revoke"
METADATA = "/oauth/.well-known/oauth-authorization-server"
ENDPOINTS = (TOKEN, INTROSPECT, REVOKE)
SECRET_KEY = "test-signing-key-0123456789abcdefghijklmnop"

#: username -> (password, the user the verifier returns)
USERS: dict[str, tuple[str, User]] = {
    "alice": ("wonderland", User("u-alice", "alice")),
    "bob": ("builder", User("u-bob")),
}


async def verify_password(username: str, password: str) -> User | None:
    entry = USERS.get(username)
    if entry is None or not hmac.compare_digest(entry[0].encode(), password.encode()):
        return None
    return entry[1]


@dataclass(frozen=True)
class Registered:
    """A client as the server stores it, plus the plain secret only the client knows."""

    client: Client
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.client.client_id


def register(client_id: str, **options: Any) -> Registered:
    options.setdefault("name", client_id)
    client, secret = new_client(client_id=client_id, **options)
    return Registered(client, secret)


def default_clients() -> list[Registered]:
    """The cast most tests use; every id says what the client is for."""
    return [
        # machine to machine, one per secret method
        register("m2m", grant_types=["client_credentials"], scope="read write admin:users /accounts.read"),
        register(
            "m2m-post",
            grant_types=["client_credentials"],
            scope="read write",
            token_endpoint_auth_method="client_secret_post",
        ),
        # first-party apps allowed the password grant (and so refresh tokens)
        register("app", grant_types=["password", "refresh_token"], scope="read write email"),
        register(
            "app-post",
            grant_types=["password", "refresh_token"],
            scope="read write email",
            token_endpoint_auth_method="client_secret_post",
        ),
        register("app-no-refresh", grant_types=["password"], scope="read"),
        register("public", public=True, grant_types=["password", "refresh_token"], scope="read write"),
        # registered for the browser grants only
        register("web", grant_types=["authorization_code", "refresh_token"], redirect_uris=["https://web.test/cb"]),
        # a resource server: may introspect every client's tokens, obtains none itself
        register("rs", grant_types=[], introspect_any=True),
    ]


def basic(client_id: str, secret: str, *, encode: bool = True) -> str:
    """An HTTP Basic header value; RFC 6749 section 2.3.1 form-url-encodes both parts first."""
    if encode:
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` for ``code_challenge_method=S256``."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Server:
    """One mounted ``OAuthServer`` and an httpx client talking to it through ``ASGITransport``."""

    oauth: OAuthServer
    #: The host application the server is mounted in.
    app: Starlette
    http: httpx.AsyncClient
    clients: dict[str, Registered] = field(default_factory=dict)

    def auth(self, client_id: str, method: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and body parameters that authenticate ``client_id`` with ``method`` (default: its own)."""
        registered = self.clients[client_id]
        method = method or registered.client.token_endpoint_auth_method
        if method == "client_secret_basic":
            assert registered.secret is not None
            return {"Authorization": basic(client_id, registered.secret)}, {}
        if method == "client_secret_post":
            assert registered.secret is not None
            return {}, {"client_id": client_id, "client_secret": registered.secret}
        return {}, {"client_id": client_id}

    async def post(
        self,
        path: str,
        data: Mapping[str, str] | None = None,
        *,
        client: str | None = None,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a form to ``path``, authenticated as ``client`` when one is named."""
        form = dict(data or {})
        all_headers: dict[str, str] = {}
        if client is not None:
            auth_headers, auth_params = self.auth(client, method)
            all_headers.update(auth_headers)
            form.update(auth_params)
        all_headers.update(headers or {})
        return await self.http.post(path, data=form, headers=all_headers)

    async def token(self, client: str, **params: str) -> httpx.Response:
        return await self.post(TOKEN, params, client=client)

    async def token_ok(self, client: str, **params: str) -> dict[str, Any]:
        response = await self.token(client, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def password_tokens(
        self, client: str = "app", username: str = "alice", password: str | None = None, **params: str
    ) -> dict[str, Any]:
        password = password if password is not None else USERS[username][0]
        return await self.token_ok(client, grant_type="password", username=username, password=password, **params)

    async def refresh(self, refresh_token: str, client: str = "app", **params: str) -> httpx.Response:
        return await self.token(client, grant_type="refresh_token", refresh_token=refresh_token, **params)

    async def introspect(self, token: str, client: str = "rs", **params: str) -> dict[str, Any]:
        response = await self.post(INTROSPECT, {"token": token, **params}, client=client)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def active(self, token: str) -> bool:
        """Whether the resource server sees ``token`` as active."""
        active = (await self.introspect(token))["active"]
        assert isinstance(active, bool)
        return active

    async def revoke(self, token: str, client: str, **params: str) -> httpx.Response:
        return await self.post(REVOKE, {"token": token, **params}, client=client)


def settings_for(**overrides: Any) -> OAuthSettings:
    return OAuthSettings(**{"issuer": ISSUER, "secret_key": SECRET_KEY, **overrides})


def build_server(
    store: Store,
    settings: OAuthSettings,
    stored: Iterable[Registered] = (),
    declared: Iterable[Registered] = (),
    *,
    password_verifier: PasswordVerifier | None = verify_password,
    routes: Sequence[BaseRoute] = (),
    **options: Any,
) -> Server:
    """A host app with the server mounted at ``/oauth``; ``stored`` clients must already be in ``store``.

    ``options`` go to :class:`~asgi_oauth.OAuthServer` as they are (``user_resolver``, ...). The caller
    closes ``Server.http``.
    """
    declared = list(declared)
    oauth = OAuthServer(
        settings, store=store, clients=[r.client for r in declared], password_verifier=password_verifier, **options
    )
    app = Starlette(routes=[Mount("/oauth", app=oauth), *routes])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    return Server(oauth, app, http, {r.client_id: r for r in [*stored, *declared]})


def assert_error(response: httpx.Response, error: str, status: int = 400) -> dict[str, Any]:
    """An RFC 6749 section 5.2 error: JSON with ``error``, never cached, and no token in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    return body
