"""A host app with the device grant switched on, driven in process over httpx on either store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from asgi_oauth import (
    DeviceAuthorization,
    DeviceSettings,
    OAuthServer,
    Store,
    User,
    load_settings,
    new_client,
    register_client,
)
from asgi_oauth.features import Feature

from ..serving import hidden_fields

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BASE_URL = "https://auth.example.test"
ISSUER = f"{BASE_URL}/oauth"
SECRET_KEY = "device-test-signing-key-0123456789abcdef"


@dataclass
class Device:
    http: httpx.AsyncClient
    oauth: OAuthServer
    box_secret: str

    async def authorize(self, client_id: str = "tv", **form: str) -> httpx.Response:
        data = {"scope": "read", **form}
        if client_id == "box":
            return await self.http.post("/oauth/device_authorization", data=data, auth=("box", self.box_secret))
        return await self.http.post("/oauth/device_authorization", data={"client_id": client_id, **data})

    async def poll(self, device_code: str, client_id: str = "tv", **form: str) -> httpx.Response:
        data = {"grant_type": DEVICE_GRANT, "device_code": device_code, **form}
        if client_id == "box":
            return await self.http.post("/oauth/token", data=data, auth=("box", self.box_secret))
        return await self.http.post("/oauth/token", data={"client_id": client_id, **data})

    async def page(self, user_code: str | None, user: str | None = "alice", **headers: str) -> httpx.Response:
        params = {} if user_code is None else {"user_code": user_code}
        if user is not None:
            headers["x-user"] = user
        return await self.http.get("/oauth/device", params=params, headers=headers)

    async def decide(self, page: httpx.Response, decision: str, user: str = "alice") -> httpx.Response:
        return await self.http.post(
            "/oauth/device", data={**hidden_fields(page.text), "decision": decision}, headers={"x-user": user}
        )

    async def approve(self, user_code: str, user: str = "alice", decision: str = "allow") -> httpx.Response:
        page = await self.page(user_code, user)
        assert page.status_code == 200, page.text
        return await self.decide(page, decision, user)


async def resolve_user(request: Request) -> User | None:
    """The host's sign-in, reduced to a header naming the user (the demo's cookie session in the served test)."""
    name = request.headers.get("x-user")
    return User(f"u-{name}", name) if name else None


@asynccontextmanager
async def device_app(
    store: Store,
    *,
    peer: str = "203.0.113.7",
    declared: bool = False,
    oauth_options: dict[str, Any] | None = None,
    device: dict[str, Any] | None = None,
    switched_on: bool = True,
    more_features: Sequence[Feature] = (),
    **settings: Any,
) -> AsyncIterator[Device]:
    """The server mounted at ``/oauth`` with the device grant on; ``peer`` is the sender's address, ``device``
    the feature's settings (:class:`DeviceSettings`, a 1 s poll interval unless given) and ``renderer``.

    Clients: ``tv`` (public, with refresh tokens), ``box`` (confidential) and ``web`` (without the grant),
    registered in the store, or with ``declared`` passed in code (for a store that cannot be reached);
    ``oauth_options`` are more arguments for :class:`~asgi_oauth.OAuthServer`.
    """
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "secret_key": SECRET_KEY,
        **settings,
    }
    device_options = {"poll_interval": 1, **(device or {})}
    renderer = device_options.pop("renderer", None)
    feature = DeviceAuthorization(DeviceSettings(**device_options), **({"renderer": renderer} if renderer else {}))
    grants = [DEVICE_GRANT, "refresh_token"]
    tv, _ = new_client(name="Living room TV", client_id="tv", public=True, grant_types=grants, scope="read write")
    box, box_secret = new_client(name="Set-top box", client_id="box", grant_types=[DEVICE_GRANT], scope="read")
    web, _ = new_client(name="Web app", client_id="web", public=True, redirect_uris=["https://web.example/cb"])
    for client in () if declared else (tv, box, web):
        if await store.get_client(client.client_id) is None:
            await register_client(store, client)
    assert box_secret is not None
    clients = (tv, box, web) if declared else ()
    oauth = OAuthServer(
        load_settings(**options),
        store=store,
        user_resolver=resolve_user,
        clients=clients,
        features=[feature, *more_features] if switched_on else [*more_features],
        **(oauth_options or {}),
    )
    app = Starlette(routes=[Mount("/oauth", app=oauth)])
    transport = httpx.ASGITransport(app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Device(http, oauth, box_secret)
