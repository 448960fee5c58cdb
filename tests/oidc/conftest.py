"""An OpenID provider in-process (the server mounted in a Starlette app, over httpx), on memory and Redis.

Users sign in by header: ``x-test-user`` names them and ``x-auth-time`` says when they authenticated, which
is what ``max_age`` and ``prompt=login`` are checked against.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth import (
    BearerTokenMiddleware,
    LocalValidator,
    OAuthServer,
    OIDCSettings,
    OpenIDConnect,
    Store,
    User,
    protect,
    register_client,
)

from ..web.helpers import ISSUER, Registered, Server, basic, build_server, pkce_pair, register, settings_for

CALLBACK = "https://rp.test/cb"
USER_CLAIMS = {
    "u-alice": {"name": "Alice Liddell", "preferred_username": "alice", "email": "alice@example.test"},
}


async def resolve_user(request: Request) -> User | None:
    name = request.headers.get("x-test-user")
    if not name:
        return None
    auth_time = request.headers.get("x-auth-time")
    return User(f"u-{name}", name, auth_time=float(auth_time) if auth_time else None)


async def user_claims(sub: str, scopes: frozenset[str]) -> dict[str, Any]:
    # More than any scope releases: the server must filter.
    return {**USER_CLAIMS.get(sub, {}), "email_verified": True, "secret_note": "never released"}


def oidc_of(oauth: OAuthServer) -> OpenIDConnect:
    """The server's OpenID Connect feature."""
    return next(feature for feature in oauth.features if isinstance(feature, OpenIDConnect))


def clients() -> list[Registered]:
    oidc = "openid profile email offline_access read"
    return [
        register("rp", grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope=oidc),
        register(
            "rp-first",
            first_party=True,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[CALLBACK],
            scope=oidc,
        ),
        register("jwt-rp", grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope=oidc),
        register("m2m", grant_types=["client_credentials"], scope="read"),
        register("rs", grant_types=[], introspect_any=True),
    ]


async def me(request: Request) -> JSONResponse:
    token = request.state.token
    return JSONResponse({"sub": token.sub, "client_id": token.client_id})


@dataclass
class Provider:
    server: Server
    user: str | None = "alice"
    auth_time: float | None = None
    clients: dict[str, Registered] = field(default_factory=dict)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.server.http

    def headers(self) -> dict[str, str]:
        headers = {"x-test-user": self.user} if self.user else {}
        if self.auth_time is not None:
            headers["x-auth-time"] = str(self.auth_time)
        return headers

    async def authorize(self, client_id: str = "rp", **params: str) -> httpx.Response:
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "state": "st"}
        query |= {"scope": "openid profile email", "nonce": "n-0S6_WzA2Mj", "code_challenge": pkce_pair()[1]}
        query |= {"code_challenge_method": "S256", **params}
        return await self.http.get("/oauth/authorize", params=query, headers=self.headers())

    async def allow(self, page: httpx.Response) -> httpx.Response:
        assert page.status_code == 200, page.text
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
        return await self.http.post("/oauth/authorize", data={**fields, "decision": "allow"}, headers=self.headers())

    async def sign_in(self, client_id: str = "rp", **params: str) -> dict[str, Any]:
        """Authorize (consenting when asked) and exchange the code; the token response."""
        verifier, challenge = pkce_pair()
        params = {"code_challenge": challenge, "code_challenge_method": "S256", **params}
        answer = await self.authorize(client_id, **params)
        if answer.status_code == 200:
            answer = await self.allow(answer)
        back = redirect_params(answer)
        assert "code" in back, back
        exchange = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": CALLBACK}
        return await self.token(client_id, **exchange, code_verifier=verifier)

    async def token(self, client_id: str, **data: str) -> dict[str, Any]:
        response = await self.server.post("/oauth/token", data, client=client_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def jwks(self) -> dict[str, Any]:
        response = await self.http.get("/oauth/jwks")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    async def verify(self, token: str, audience: str, typ: str | None = None) -> dict[str, Any]:
        """Verify a JWT against the JWKS as any relying party would (PyJWT), with the kid from its header."""
        header = jwt.get_unverified_header(token)
        if typ is not None:
            assert header["typ"] == typ
        keys = {key["kid"]: key for key in (await self.jwks())["keys"]}
        key = jwt.PyJWK(keys[header["kid"]])
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=[header["alg"]], audience=audience, issuer=ISSUER)
        return claims


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


MakeProvider = Callable[..., Awaitable[Provider]]


@pytest.fixture
async def make_provider(store: Store) -> AsyncIterator[MakeProvider]:
    registered = clients()
    for client in registered:
        await register_client(store, client.client)
    opened: list[httpx.AsyncClient] = []

    async def factory(**settings: Any) -> Provider:
        options = settings.pop("oauth_options", {})
        section = {name: settings.pop(name) for name in list(settings) if name in OIDCSettings.model_fields}
        section.setdefault("jwt_access_token_clients", "jwt-rp,m2m")
        on = settings.pop("enable_oidc", True)
        openid = [OpenIDConnect(OIDCSettings(**section), user_claims=user_claims)] if on else []
        options["features"] = [*openid, *options.get("features", ())]
        built = build_server(
            store,
            settings_for(**settings),
            registered,
            password_verifier=None,
            user_resolver=resolve_user,
            **options,
        )
        # The same app protects /api/me with the middleware, validating locally against the same store.
        built.app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/api")])
        built.app.router.routes.append(Route("/api/me", me))
        opened.append(built.http)
        return Provider(built, clients={r.client_id: r for r in registered})

    try:
        yield factory
    finally:
        for http in opened:
            await http.aclose()


@pytest.fixture
async def provider(make_provider: MakeProvider) -> Provider:
    return await make_provider()


__all__ = ["CALLBACK", "ISSUER", "MakeProvider", "Provider", "basic", "redirect_params", "settings_for"]
