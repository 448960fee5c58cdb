"""Remote validation: a resource server that does not share the Redis asks a real ``asgi-oauth serve``.

The authorization server runs as a subprocess on the test Redis with the clients registered there: a
resource server ``rs`` allowed to introspect every client's tokens (``introspect_any``), ``m2m`` and
``app``. The resource server is a Starlette app with ``BearerTokenMiddleware(RemoteValidator(...))``,
driven through httpx's ASGI transport; its introspection calls go over real HTTP.

What remote validation trades for fewer calls, shown below: a revoked token stays accepted by this
resource server until its cache entry expires, at most ``max_ttl`` seconds after it was cached.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from asgi_oauth.crypto import new_token
from asgi_oauth.middleware import BearerTokenMiddleware, protect
from asgi_oauth.remote import RemoteStats, RemoteValidator

from ..serving import Server, free_port, serving, settings_env
from .helpers import (
    REALM,
    Cred,
    assert_insufficient,
    assert_invalid,
    assert_missing,
    assert_unavailable,
    bearer,
    issue,
    issue_for_user,
    make_cast,
    public,
    revoke,
    whoami,
)
from .servers import SECRET_KEY, register_in_redis

RS_URL = "https://rs.example.test"


@dataclass
class AuthServer:
    process: Server
    clients: dict[str, Cred]
    #: The ``ASGI_OAUTH_*`` settings it runs with (without the prefix), for starting a sibling.
    settings: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/oauth/introspect"


@pytest.fixture(scope="module")
def auth_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """One ``asgi-oauth serve`` on the test Redis for the whole module, with this module's clients in it."""
    prefix = f"rm{uuid.uuid4().hex[:10]}"
    clients = make_cast()
    register_in_redis(redis_url, prefix, clients.values())
    settings = {"redis_url": redis_url, "key_prefix": prefix, "secret_key": SECRET_KEY, "enable_password_grant": "1"}
    with serving(tmp_path_factory.mktemp("auth-server"), settings_env(**settings)) as process:
        # it found our clients in Redis, and registered its demo client beside them
        assert "Other clients in the store: app, m2m, rs" in process.stdout
        yield AuthServer(process, clients, settings)


@pytest.fixture
async def auth_http(auth_server: AuthServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the authorization server, over real HTTP."""
    async with httpx.AsyncClient(base_url=auth_server.base_url, timeout=10) as http:
        yield http


def resource_app(validator: RemoteValidator) -> Starlette:
    """The resource server: its own routes behind the middleware, no store and no authorization server."""
    rules = [protect("/api/admin", "admin"), protect("/api", "read")]
    return Starlette(
        routes=[Route("/api/whoami", whoami), Route("/api/admin", whoami), Route("/public", public)],
        middleware=[Middleware(BearerTokenMiddleware, validator=validator, rules=rules, realm=REALM)],
    )


@dataclass
class Resource:
    validator: RemoteValidator
    http: httpx.AsyncClient

    @property
    def stats(self) -> RemoteStats:
        return self.validator.stats

    async def get(self, path: str, token: str | None = None) -> httpx.Response:
        return await self.http.get(path, headers=bearer(token) if token is not None else {})


ResourceFactory = Callable[..., Awaitable[Resource]]


@pytest.fixture
async def make_resource(auth_server: AuthServer) -> AsyncIterator[ResourceFactory]:
    """Build resource servers validating against ``auth_server`` as client ``rs`` unless told otherwise."""
    async with AsyncExitStack() as stack:

        async def factory(
            *, url: str | None = None, client: str = "rs", secret: str | None = None, **options: Any
        ) -> Resource:
            cred = auth_server.clients[client]
            validator = RemoteValidator(
                url or auth_server.introspection_url, cred.client_id, secret or cred.secret, **options
            )
            stack.push_async_callback(validator.aclose)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=resource_app(validator)), base_url=RS_URL)
            stack.push_async_callback(http.aclose)
            return Resource(validator, http)

        yield factory


async def introspect_directly(http: httpx.AsyncClient, server: AuthServer, token: str) -> dict[str, Any]:
    """What the authorization server itself says about ``token`` right now."""
    response = await http.post("/oauth/introspect", auth=server.clients["rs"].basic, data={"token": token})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- accepted, cached, coalesced ------------------------------------------------------------------


async def test_active_token_is_accepted_then_served_from_the_cache(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    token = await issue(auth_http, auth_server.clients["m2m"], "read write")
    rs = await make_resource()

    first = await rs.get("/api/whoami", token)
    assert first.status_code == 200, first.text
    view = first.json()
    assert view["client_id"] == "m2m"
    assert view["sub"] is None
    assert view["scopes"] == ["read", "write"]
    assert view["scopes_type"] == "frozenset"
    assert view["user"]["type"] == "TokenUser"
    assert view["user"]["identity"] == "m2m"
    assert time.time() < view["exp"] <= time.time() + 3600
    assert rs.stats == RemoteStats(introspections=1, cache_hits=0, coalesced=0)

    second = await rs.get("/api/whoami", token)
    assert second.json() == view
    assert rs.stats == RemoteStats(introspections=1, cache_hits=1, coalesced=0)

    # the scope check is answered from the cached entry too
    assert_insufficient(await rs.get("/api/admin", token), "admin")
    assert rs.stats == RemoteStats(introspections=1, cache_hits=2, coalesced=0)

    # no token or an unprotected path: no introspection and no cache lookup at all
    assert_missing(await rs.get("/api/whoami"))
    assert (await rs.get("/public", token)).status_code == 200
    assert rs.stats == RemoteStats(introspections=1, cache_hits=2, coalesced=0)


async def test_user_token_carries_its_subject(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    tokens = await issue_for_user(auth_http, auth_server.clients["app"], "read")
    rs = await make_resource()
    response = await rs.get("/api/whoami", tokens["access_token"])
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["client_id"] == "app"
    assert view["sub"] == "alice"
    assert view["user"]["identity"] == "alice"
    assert view["scopes"] == ["read"]


async def test_fifty_concurrent_requests_with_a_new_token_make_one_introspection(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    token = await issue(auth_http, auth_server.clients["m2m"], "read")
    rs = await make_resource()
    responses = await asyncio.gather(*(rs.get("/api/whoami", token) for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert {r.json()["client_id"] for r in responses} == {"m2m"}
    assert rs.stats == RemoteStats(introspections=1, cache_hits=0, coalesced=49)
    assert (await rs.get("/api/whoami", token)).status_code == 200
    assert rs.stats == RemoteStats(introspections=1, cache_hits=1, coalesced=49)


async def test_concurrent_requests_with_two_new_tokens_make_two_introspections(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    tokens = [await issue(auth_http, auth_server.clients["m2m"], scope) for scope in ("read", "read write")]
    rs = await make_resource()
    responses = await asyncio.gather(*(rs.get("/api/whoami", tokens[i % 2]) for i in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert sorted(r.json()["scope"] for r in responses) == ["read"] * 25 + ["read write"] * 25
    assert rs.stats == RemoteStats(introspections=2, cache_hits=0, coalesced=48)


# -- the price of the cache: revocation delay, bounded by max_ttl and exp -------------------------


async def test_revoked_token_is_accepted_until_its_cache_entry_expires(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    """The documented revocation delay: up to ``max_ttl`` seconds after the answer was cached."""
    token = await issue(auth_http, auth_server.clients["m2m"], "read")
    patient = await make_resource(max_ttl=60.0)
    prompt = await make_resource(max_ttl=1.0)
    for rs in (patient, prompt):
        assert (await rs.get("/api/whoami", token)).status_code == 200
        assert rs.stats.introspections == 1

    await revoke(auth_http, auth_server.clients["m2m"], token)
    assert await introspect_directly(auth_http, auth_server, token) == {"active": False}

    # The authorization server has forgotten the token; this resource server has not, yet.
    stale = await patient.get("/api/whoami", token)
    assert stale.status_code == 200
    assert patient.stats == RemoteStats(introspections=1, cache_hits=1, coalesced=0)

    await asyncio.sleep(1.0 + 0.3)  # past prompt's max_ttl, counted from when it cached the answer
    assert_invalid(await prompt.get("/api/whoami", token))
    assert prompt.stats.introspections == 2
    # and the refusal is cached in turn
    assert_invalid(await prompt.get("/api/whoami", token))
    assert prompt.stats == RemoteStats(introspections=2, cache_hits=1, coalesced=0)

    # well within its 60 s, the other resource server still accepts it: the delay is max_ttl, per server
    assert (await patient.get("/api/whoami", token)).status_code == 200
    assert patient.stats.introspections == 1


async def test_cache_entry_never_outlives_the_token(
    redis_url: str, auth_server: AuthServer, make_resource: ResourceFactory, tmp_path: Path
) -> None:
    """With ``max_ttl`` far beyond a short-lived token, the entry still ends at the token's ``exp``."""
    settings = {**auth_server.settings, "access_token_lifetime": "3"}
    with serving(tmp_path, settings_env(**settings)) as short_lived:
        async with httpx.AsyncClient(base_url=short_lived.base_url, timeout=10) as http:
            token = await issue(http, auth_server.clients["m2m"], "read")
        rs = await make_resource(url=f"{short_lived.base_url}/oauth/introspect", max_ttl=300.0)
        first = await rs.get("/api/whoami", token)
        assert first.status_code == 200, first.text
        exp = first.json()["exp"]
        assert exp <= time.time() + 3
        assert (await rs.get("/api/whoami", token)).status_code == 200
        assert rs.stats == RemoteStats(introspections=1, cache_hits=1, coalesced=0)

        await asyncio.sleep(max(0.0, exp - time.time()) + 0.3)
        assert_invalid(await rs.get("/api/whoami", token))
        # a new introspection, not a cache hit: the entry had ended at exp, 297 s before max_ttl
        assert rs.stats == RemoteStats(introspections=2, cache_hits=1, coalesced=0)


async def test_negative_answers_are_cached_briefly(make_resource: ResourceFactory) -> None:
    _, unknown = new_token()
    rs = await make_resource(negative_ttl=60.0)
    assert_invalid(await rs.get("/api/whoami", unknown))
    assert rs.stats == RemoteStats(introspections=1, cache_hits=0, coalesced=0)
    assert_invalid(await rs.get("/api/whoami", unknown))
    assert rs.stats == RemoteStats(introspections=1, cache_hits=1, coalesced=0)

    brief = await make_resource(negative_ttl=0.5)
    assert_invalid(await brief.get("/api/whoami", unknown))
    await asyncio.sleep(0.5 + 0.3)
    assert_invalid(await brief.get("/api/whoami", unknown))
    assert brief.stats == RemoteStats(introspections=2, cache_hits=0, coalesced=0)


async def test_a_refresh_token_is_never_accepted_as_a_bearer_token(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    tokens = await issue_for_user(auth_http, auth_server.clients["app"], "read")
    described = await introspect_directly(auth_http, auth_server, tokens["refresh_token"])
    assert described["active"] is True
    assert described["token_type"] == "refresh_token"

    rs = await make_resource()
    assert_invalid(await rs.get("/api/whoami", tokens["refresh_token"]))
    assert (await rs.get("/api/whoami", tokens["access_token"])).status_code == 200
    assert rs.stats.introspections == 2


async def test_a_resource_server_without_introspect_any_sees_only_its_own_clients_tokens(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    """Why the resource server's client needs ``introspect_any``: otherwise other clients' tokens look inactive."""
    own = await issue(auth_http, auth_server.clients["m2m"], "read")
    other = (await issue_for_user(auth_http, auth_server.clients["app"], "read"))["access_token"]
    as_m2m = await make_resource(client="m2m")
    assert (await as_m2m.get("/api/whoami", own)).status_code == 200
    assert_invalid(await as_m2m.get("/api/whoami", other))
    rs = await make_resource()
    assert (await rs.get("/api/whoami", other)).status_code == 200


# -- the authorization server cannot answer -------------------------------------------------------


async def test_introspection_endpoint_down_is_503(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    token = await issue(auth_http, auth_server.clients["m2m"], "read")
    down = await make_resource(url=f"http://127.0.0.1:{free_port()}/oauth/introspect", timeout=0.5)
    assert_unavailable(await down.get("/api/whoami", token))
    assert down.stats.introspections == 1
    # failures are not cached: the next request asks again
    assert_unavailable(await down.get("/api/whoami", token))
    assert down.stats.introspections == 2
    # concurrent requests share the failing call as they would share a good one
    responses = await asyncio.gather(*(down.get("/api/whoami", token) for _ in range(20)))
    assert {r.status_code for r in responses} == {503}
    assert down.stats == RemoteStats(introspections=3, cache_hits=0, coalesced=19)
    # what needs no introspection still answers as usual
    assert_missing(await down.get("/api/whoami"))
    assert (await down.get("/public")).status_code == 200
    assert down.stats.introspections == 3


async def test_introspection_refused_for_bad_credentials_is_503_not_a_pass(
    auth_http: httpx.AsyncClient, auth_server: AuthServer, make_resource: ResourceFactory
) -> None:
    token = await issue(auth_http, auth_server.clients["m2m"], "read")
    misconfigured = await make_resource(secret="not-the-secret")
    assert_unavailable(await misconfigured.get("/api/whoami", token))
    assert misconfigured.stats.introspections == 1
