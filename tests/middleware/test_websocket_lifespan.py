"""WebSockets and lifespan through the bearer middleware, with Starlette's TestClient (it speaks both).

The TestClient runs the app on an event loop of its own, so these tests are synchronous and build their
store inside the test; the host app's lifespan closes it on that loop.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns (an error here) when it falls back to httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from asgi_oauth import MemoryStore, RedisStore, Store

from .helpers import BASE_URL, REALM, Cred, bearer, host_app, make_cast

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "redis"])
def new_store(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> StoreFactory:
    """Makes the store inside the test; the app's lifespan closes it on the TestClient's loop."""
    if request.param == "memory":
        return MemoryStore
    return lambda: RedisStore.from_url(redis_url, key_prefix=key_prefix)


class Host:
    """A host app with a lifespan handler, an endpoint counting its calls, and the server at /oauth."""

    def __init__(self, store: Store, **options: Any) -> None:
        self.clients = make_cast()
        self.events: list[str] = []
        self.accepted: list[str] = []

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
            self.events.append("startup")
            await store.ping()
            try:
                yield {"greeting": "hello from the lifespan"}
            finally:
                self.events.append("shutdown")
                await store.aclose()

        async def greeting(request: Request) -> JSONResponse:
            client_id = request.state.token.client_id if "token" in request.scope["state"] else None
            return JSONResponse({"greeting": request.state.greeting, "client_id": client_id})

        async def counted(websocket: WebSocket) -> None:
            await websocket.accept()
            self.accepted.append(websocket.url.path)
            await websocket.send_json({"client_id": websocket.state.token.client_id})
            await websocket.close()

        async def live(websocket: WebSocket) -> None:
            await websocket.accept()
            self.accepted.append(websocket.url.path)
            await websocket.send_json({"authenticated": websocket.user.is_authenticated})
            await websocket.close()

        extra = [
            Route("/api/greeting", greeting),
            Route("/hello", greeting),
            WebSocketRoute("/ws/counted", counted),
            WebSocketRoute("/live", live),
        ]
        self.app = host_app(store, self.clients, lifespan=lifespan, extra_routes=extra, **options)

    def token(self, client: TestClient, scope: str, cred: str = "m2m") -> str:
        who: Cred = self.clients[cred]
        response = client.post(
            "/oauth/token", auth=who.basic, data={"grant_type": "client_credentials", "scope": scope}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@pytest.fixture
def host(new_store: StoreFactory) -> Host:
    return Host(new_store())


@pytest.fixture
def client(host: Host) -> Iterator[TestClient]:
    with TestClient(host.app, base_url=BASE_URL) as running:
        yield running


# -- lifespan -------------------------------------------------------------------------------------


def test_lifespan_passes_through_the_middleware(host: Host) -> None:
    assert host.events == []
    with TestClient(host.app, base_url=BASE_URL) as client:
        assert host.events == ["startup"]
        token = host.token(client, "read")
        # the lifespan's state reaches endpoints behind a rule and the middleware's additions sit beside it
        protected = client.get("/api/greeting", headers=bearer(token))
        assert protected.json() == {"greeting": "hello from the lifespan", "client_id": "m2m"}
        assert client.get("/hello").json() == {"greeting": "hello from the lifespan", "client_id": None}
        assert client.get("/api/greeting").status_code == 401
    assert host.events == ["startup", "shutdown"]


# -- websockets -----------------------------------------------------------------------------------


def test_websocket_with_a_good_token_is_accepted(host: Host, client: TestClient) -> None:
    token = host.token(client, "read write")
    with client.websocket_connect("/ws/echo", headers=bearer(token)) as ws:
        view = ws.receive_json()
        ws.send_text("ping")
        assert ws.receive_text() == "echo:ping"
    assert view["client_id"] == "m2m"
    assert view["scopes"] == ["read", "write"]
    assert view["scopes_type"] == "frozenset"
    assert view["user"]["type"] == "TokenUser"
    assert view["auth_scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "unauthorized"),
        (bearer("junk"), "invalid_token"),
        (bearer("A" * 22 + "." + "B" * 43), "invalid_token"),
        ({"Authorization": "Bearer two words"}, "invalid_request"),
    ],
)
def test_websocket_without_a_valid_token_is_refused_before_accept(
    host: Host, client: TestClient, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/counted", headers=headers):
        pytest.fail("the handshake must not complete")
    assert refused.value.code == 1008
    assert refused.value.reason == reason
    assert host.accepted == []


def test_websocket_with_a_revoked_token_is_refused(host: Host, client: TestClient) -> None:
    token = host.token(client, "read")
    with client.websocket_connect("/ws/counted", headers=bearer(token)) as ws:
        assert ws.receive_json() == {"client_id": "m2m"}
    revoked = client.post("/oauth/revoke", auth=host.clients["m2m"].basic, data={"token": token})
    assert revoked.status_code == 200
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/counted", headers=bearer(token)):
        pytest.fail("the handshake must not complete")
    assert refused.value.reason == "invalid_token"
    assert host.accepted == ["/ws/counted"]


def test_websocket_without_the_scope_is_refused(host: Host, client: TestClient) -> None:
    token = host.token(client, "write")
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/counted", headers=bearer(token)):
        pytest.fail("the handshake must not complete")
    assert refused.value.code == 1008
    assert refused.value.reason == "insufficient_scope"
    assert host.accepted == []


def test_websocket_query_token_only_when_allowed(new_store: StoreFactory) -> None:
    """Browsers cannot set headers on a WebSocket, which is what ``allow_query_token`` is for."""
    strict = Host(new_store())
    with TestClient(strict.app, base_url=BASE_URL) as client:
        token = strict.token(client, "read")
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(f"/ws/counted?access_token={token}"),
        ):
            pytest.fail("the handshake must not complete")
        assert refused.value.reason == "unauthorized"
    lenient = Host(new_store(), allow_query_token=True)
    with TestClient(lenient.app, base_url=BASE_URL) as client:
        token = lenient.token(client, "read")
        with client.websocket_connect(f"/ws/counted?access_token={token}") as ws:
            assert ws.receive_json() == {"client_id": "m2m"}
    assert lenient.accepted == ["/ws/counted"]


def test_uncovered_websocket_passes_through(host: Host, client: TestClient) -> None:
    with client.websocket_connect("/live") as ws:
        assert ws.receive_json() == {"authenticated": False}
    assert host.accepted == ["/live"]


def test_realm_in_http_challenges(host: Host, client: TestClient) -> None:
    assert client.get("/api/whoami").headers["www-authenticate"] == f'Bearer realm="{REALM}"'
