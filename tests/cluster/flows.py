"""Every grant and endpoint, end to end through the real app, on whatever store it is given.

The cluster and Sentinel tests run these against a ``RedisStore`` built from a ``redis+cluster://`` or
``redis+sentinel://`` URL: the app cannot tell, which is the point.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from asgi_oauth import OAuthServer, Store, User, register_client

from ..web.helpers import BASE_URL, Registered, basic, pkce_pair, register, settings_for

CALLBACK = "https://web.test/cb"


async def signed_in(request: Request) -> User | None:
    name = request.headers.get("x-test-user")
    return User(f"u-{name}", name) if name else None


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class App:
    """The server mounted at ``/oauth`` in a host app, driven over httpx like a client and a browser would."""

    http: httpx.AsyncClient
    clients: dict[str, Registered]
    #: Every credential handed out, so a test can look for it in a Redis dump.
    issued: list[str] = field(default_factory=list)

    def _auth(self, client_id: str) -> tuple[dict[str, str], dict[str, str]]:
        secret = self.clients[client_id].secret
        if secret is None:
            return {}, {"client_id": client_id}
        return {"Authorization": basic(client_id, secret)}, {}

    async def post(self, path: str, client_id: str, **form: str) -> httpx.Response:
        headers, extra = self._auth(client_id)
        return await self.http.post(f"/oauth/{path}", data={**form, **extra}, headers=headers)

    async def token(self, client_id: str, **form: str) -> dict[str, Any]:
        response = await self.post("token", client_id, **form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.issued += [body["access_token"], *([body["refresh_token"]] if "refresh_token" in body else [])]
        return body

    async def refused(self, path: str, client_id: str, error: str, status: int = 400, **form: str) -> None:
        response = await self.post(path, client_id, **form)
        assert response.status_code == status, response.text
        assert response.json()["error"] == error, response.text

    async def introspect(self, token: str) -> dict[str, Any]:
        response = await self.post("introspect", "rs", token=token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def active(self, token: str) -> bool:
        return bool((await self.introspect(token))["active"])

    async def revoke(self, token: str, client_id: str) -> None:
        response = await self.post("revoke", client_id, token=token)
        assert response.status_code == 200, response.text

    async def authorize_code(self, client_id: str, user: str = "alice", *, consent: bool = True) -> tuple[str, str]:
        """/authorize with PKCE as ``user``, through the consent form when ``consent``; ``(code, verifier)``."""
        verifier, challenge = pkce_pair()
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "state": "st"}
        query |= {"scope": "read write", "code_challenge": challenge, "code_challenge_method": "S256"}
        headers = {"x-test-user": user}
        response = await self.http.get("/oauth/authorize", params=query, headers=headers)
        if consent:
            assert response.status_code == 200, response.text
            fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', response.text)}
            response = await self.http.post("/oauth/authorize", data={**fields, "decision": "allow"}, headers=headers)
        params = redirect_params(response)
        assert params["state"] == "st"
        self.issued.append(params["code"])
        return params["code"], verifier


def clients() -> list[Registered]:
    return [
        register("m2m", grant_types=["client_credentials"], scope="read write"),
        register(
            "web", grant_types=["authorization_code", "refresh_token"], redirect_uris=[CALLBACK], scope="read write"
        ),
        register(
            "spa",
            public=True,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[CALLBACK],
            scope="read write",
        ),
        register("rs", grant_types=[], introspect_any=True),
    ]


@asynccontextmanager
async def running_app(store: Store, **settings: Any) -> AsyncIterator[App]:
    """The clients registered in ``store`` (as the CLI does) and an app on it; consent is remembered."""
    registered = clients()
    for r in registered:
        await register_client(store, r.client)
    oauth = OAuthServer(settings_for(consent_lifetime=600, **settings), store=store, user_resolver=signed_in)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=[Mount("/oauth", app=oauth)])), base_url=BASE_URL
    )
    try:
        yield App(http, {r.client_id: r for r in registered}, [r.secret for r in registered if r.secret])
    finally:
        await http.aclose()


async def full_flow(app: App) -> None:
    """client_credentials, code + PKCE (consent, then remembered), code replay, refresh rotation with reuse
    detection, introspection and revocation; every outcome checked through the endpoints."""
    # client_credentials: introspected, then revoked by its owner.
    m2m = await app.token("m2m", grant_type="client_credentials", scope="read")
    seen = await app.introspect(m2m["access_token"])
    assert seen["active"] and seen["client_id"] == "m2m" and seen["scope"] == "read", seen
    await app.revoke(m2m["access_token"], "m2m")
    assert not await app.active(m2m["access_token"])

    # A wrong secret: refused, and counted by the rate limiter in the store.
    app.clients["bad"] = Registered(app.clients["m2m"].client, "not-the-secret")
    await app.refused("token", "bad", "invalid_client", 401, grant_type="client_credentials")

    # Authorization code with PKCE for a confidential client: consent form, exchange, introspection.
    code, verifier = await app.authorize_code("web")
    tokens = await app.token(
        "web", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )
    seen = await app.introspect(tokens["access_token"])
    assert seen["active"] and seen["sub"] == "u-alice" and seen["client_id"] == "web", seen
    assert (await app.introspect(tokens["refresh_token"]))["active"]

    # Replaying the code fails and revokes what it issued (RFC 6749 section 4.1.2).
    await app.refused(
        "token", "web", "invalid_grant", grant_type="authorization_code", code=code, code_verifier=verifier
    )
    assert not await app.active(tokens["access_token"])
    assert not await app.active(tokens["refresh_token"])

    # The consent was remembered: a second authorization for the same scope skips the form.
    code, verifier = await app.authorize_code("web", consent=False)
    first = await app.token(
        "web", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )

    # Refresh rotation: the new pair works, the old refresh token is spent.
    second = await app.token("web", grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert await app.active(second["access_token"])
    assert await app.active(first["access_token"])
    # Reuse of the spent refresh token revokes the whole family (RFC 9700 section 4.14.2).
    await app.refused("token", "web", "invalid_grant", grant_type="refresh_token", refresh_token=first["refresh_token"])
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert not await app.active(token)

    # A public client (PKCE mandatory); revoking its refresh token revokes the family's access tokens.
    code, verifier = await app.authorize_code("spa", user="bob")
    spa = await app.token(
        "spa", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )
    spa2 = await app.token("spa", grant_type="refresh_token", refresh_token=spa["refresh_token"])
    assert await app.active(spa2["access_token"])
    await app.revoke(spa2["refresh_token"], "spa")
    for token in (spa["access_token"], spa2["access_token"], spa2["refresh_token"]):
        assert not await app.active(token)

    # A live family (refreshed once) and a live lone token stay for the key-layout checks.
    code, verifier = await app.authorize_code("web", consent=False)
    live = await app.token(
        "web", grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )
    live = await app.token("web", grant_type="refresh_token", refresh_token=live["refresh_token"])
    lone = await app.token("m2m", grant_type="client_credentials", scope="write")
    for token in (live["access_token"], live["refresh_token"], lone["access_token"]):
        assert await app.active(token)
