"""Store round trips per operation, counted on the wire to a real Redis: a cost is checked by a test, not only measured.

A round trip is one command sent and answered: one command or one script call. Counting where commands
leave, not in ``INFO commandstats``, keeps commands run inside Lua scripts from being counted as separate
trips. Both ways a store talks to Redis are counted: its pipelined connection (a single server, the
default) and redis-py's per-command path (TLS, Cluster, Sentinel).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import OAuthServer, RedisStore, User, register_client
from asgi_oauth.middleware import BearerTokenMiddleware, LocalValidator, protect
from asgi_oauth.store import pipeline

from .web.helpers import BASE_URL, basic, register, settings_for


class Trips:
    """Commands sent, by transport."""

    counts: ClassVar[Counter[str]] = Counter()


class CountingConnection(aioredis.Connection):
    """A redis-py connection that counts what it sends; a store given one uses redis-py's path."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        Trips.counts["redis-py"] += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
def counting_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    send = pipeline._Connection.send

    def counted(self: Any, packed: bytes) -> Any:
        Trips.counts["pipelined"] += 1
        return send(self, packed)

    monkeypatch.setattr(pipeline._Connection, "send", counted)


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"client_id": request.state.token.client_id})


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def alice(request: Request) -> User:
    return User("u-alice", "alice")


class Harness:
    def __init__(self, http: httpx.AsyncClient, secrets_by_id: dict[str, str]) -> None:
        self.http = http
        self.secrets = secrets_by_id

    def auth(self, client_id: str) -> dict[str, str]:
        return {"Authorization": basic(client_id, self.secrets[client_id])}

    async def counted(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        before = Trips.counts.copy()
        response = await self.http.request(method, path, **kwargs)
        return response, Trips.counts.total() - before.total()

    async def client_credentials(self) -> httpx.Response:
        return await self.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=self.auth("m2m"))

    async def code(self) -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        response = await self.http.get(
            "/oauth/authorize",
            params={"response_type": "code", "client_id": "web", "code_challenge": challenge,
                    "code_challenge_method": "S256"},
        )  # fmt: skip
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0], verifier


@pytest.fixture(params=["pipelined", "redis-py"])
async def harness(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str, counting_pipeline: None
) -> AsyncIterator[Harness]:
    transport: str = request.param
    options = {"connection_class": CountingConnection} if transport == "redis-py" else {}
    pool = aioredis.ConnectionPool.from_url(redis_url, **options)
    store = RedisStore(aioredis.Redis(connection_pool=pool), key_prefix=key_prefix)
    before = Trips.counts.copy()
    m2m = register("m2m", grant_types=["client_credentials"], scope="read")
    web = register(
        "web", first_party=True, grant_types=["authorization_code", "refresh_token"],
        redirect_uris=["https://web.test/cb"], scope="read",
    )  # fmt: skip
    for r in (m2m, web):
        await register_client(store, r.client)
    oauth = OAuthServer(settings_for(), store=store, user_resolver=alice)
    app = Starlette(routes=[Mount("/oauth", app=oauth), Route("/api/me", me), Route("/public", public)])
    app.add_middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/api")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        h = Harness(http, {"m2m": m2m.secret or "", "web": web.secret or ""})
        # Warm up: connections made, scripts loaded, client records cached.
        token = (await h.client_credentials()).json()["access_token"]
        await http.post("/oauth/introspect", data={"token": token}, headers=h.auth("m2m"))
        await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        code, verifier = await h.code()
        tokens = await http.post(
            "/oauth/token", headers=h.auth("web"),
            data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        )  # fmt: skip
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
        assert (await http.post("/oauth/token", headers=h.auth("web"), data=refresh)).status_code == 200
        sent = Trips.counts - before
        assert set(sent) == {transport}, f"the store should talk to Redis over {transport}, not {sent}"
        yield h
    await store.aclose()
    await pool.aclose()


async def test_client_credentials_issuance_is_one_round_trip(harness: Harness) -> None:
    response, trips = await harness.counted(
        "POST", "/oauth/token", data={"grant_type": "client_credentials"}, headers=harness.auth("m2m")
    )
    assert response.status_code == 200
    assert trips == 1


async def test_local_validation_is_one_round_trip_and_unprotected_is_zero(harness: Harness) -> None:
    token = (await harness.client_credentials()).json()["access_token"]
    response, trips = await harness.counted("GET", "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and trips == 1
    response, trips = await harness.counted("GET", "/public", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and trips == 0


async def test_introspection_is_one_round_trip(harness: Harness) -> None:
    token = (await harness.client_credentials()).json()["access_token"]
    response, trips = await harness.counted(
        "POST", "/oauth/introspect", data={"token": token}, headers=harness.auth("m2m")
    )
    assert response.json()["active"] is True
    assert trips == 1


async def test_code_exchange_and_refresh_take_at_most_two(harness: Harness) -> None:
    code, verifier = await harness.code()
    response, trips = await harness.counted(
        "POST", "/oauth/token", headers=harness.auth("web"),
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert trips <= 2
    refresh = response.json()["refresh_token"]
    response, trips = await harness.counted(
        "POST", "/oauth/token", headers=harness.auth("web"),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert trips <= 2
