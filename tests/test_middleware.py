"""The bearer middleware in front of a real Starlette host app, on the memory store and on a real Redis.

Every test obtains its tokens from the mounted server (``POST /oauth/token``) and sends its requests
through the whole app over httpx's ASGI transport. Tests that use the ``store`` fixture run twice.
WebSockets, lifespan and remote validation have their own files under ``tests/middleware/``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from asgi_oauth import OAuthServer, RedisStore, Store
from asgi_oauth.crypto import new_token
from asgi_oauth.middleware import (
    BearerAuthBackend,
    BearerTokenMiddleware,
    LocalValidator,
    bearer_refusal,
    protect,
    requires_scopes,
)

from .conftest import trusting_cache
from .middleware.helpers import (
    BASE_URL,
    REALM,
    RULES,
    Cred,
    assert_insufficient,
    assert_invalid,
    assert_malformed,
    assert_missing,
    assert_unavailable,
    bearer,
    challenge,
    decorated_all,
    host_app,
    issue,
    issue_for_user,
    make_cast,
    revoke,
    settings_for,
    whoami,
)
from .web.helpers import verify_password


@dataclass
class Host:
    http: httpx.AsyncClient
    clients: dict[str, Cred]
    store: Store

    async def token(self, scope: str = "read", client: str = "m2m") -> str:
        return await issue(self.http, self.clients[client], scope)

    async def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(bearer(token) if token is not None else {}), **kwargs.pop("headers", {})}
        return await self.http.get(path, headers=headers, **kwargs)

    async def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = bearer(token) if token is not None else {}
        return await self.http.request(method, path, headers=headers, **kwargs)


@asynccontextmanager
async def open_host(store: Store, **options: Any) -> AsyncIterator[Host]:
    clients = make_cast()
    app = host_app(store, clients, **options)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield Host(http, clients, store)


@pytest.fixture
async def host(store: Store) -> AsyncIterator[Host]:
    async with open_host(store) as opened:
        yield opened


# -- no token, bad tokens -------------------------------------------------------------------------


async def test_no_token_is_401_with_a_bare_challenge(host: Host) -> None:
    response = await host.get("/api/whoami")
    assert_missing(response)
    # RFC 6750 section 3.1: no error code when the request carried no credentials at all.
    assert "error=" not in response.headers["www-authenticate"]


async def test_another_auth_scheme_counts_as_no_bearer_token(host: Host) -> None:
    assert_missing(await host.get("/api/whoami", headers={"Authorization": "Basic bTJtOnNlY3JldA=="}))


@pytest.mark.parametrize("junk", ["junk", "abc.def", "A" * 22 + "." + "B" * 43, "x" * 4000])
async def test_junk_token_is_invalid_token(host: Host, junk: str) -> None:
    assert_invalid(await host.get("/api/whoami", junk))


async def test_well_formed_but_unknown_token_is_invalid_token(host: Host) -> None:
    _, unknown = new_token()
    assert_invalid(await host.get("/api/whoami", unknown))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer ,",
        "Bearer two words",
        "Bearer tok@en",
        "Bearer tok,en",
        "Bearer =abc",
    ],
)
async def test_malformed_authorization_header_is_400_invalid_request_with_a_challenge(host: Host, header: str) -> None:
    response = await host.get("/api/whoami", headers={"Authorization": header})
    assert_malformed(response)


async def test_bearer_scheme_is_case_insensitive(host: Host) -> None:
    token = await host.token()
    response = await host.http.get("/api/whoami", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200, response.text


# -- a good token ---------------------------------------------------------------------------------


async def test_client_token_sets_state_user_and_auth(host: Host) -> None:
    before = time.time()
    token = await host.token("read write")
    response = await host.get("/api/whoami", token)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["token_type"] == "AccessToken"
    assert view["client_id"] == "m2m"
    assert view["sub"] is None
    assert sorted(view["scope"].split()) == ["read", "write"]
    assert view["scopes"] == ["read", "write"]
    assert view["scopes_type"] == "frozenset"
    assert before + 3600 - 5 < view["exp"] <= time.time() + 3600 + 1
    # client_credentials: the client itself is the user
    assert view["user"] == {
        "type": "TokenUser",
        "is_authenticated": True,
        "identity": "m2m",
        "display_name": "m2m",
    }
    assert view["auth_scopes"] == ["read", "write"]


async def test_user_token_names_the_resource_owner(host: Host) -> None:
    tokens = await issue_for_user(host.http, host.clients["app"], "read")
    view = (await host.get("/api/whoami", tokens["access_token"])).json()
    assert view["client_id"] == "app"
    assert view["sub"] == "u-alice"
    assert view["scopes"] == ["read"]
    assert view["user"]["identity"] == "u-alice"
    assert view["user"]["display_name"] == "alice"


async def test_the_same_token_works_repeatedly_and_on_other_protected_routes(host: Host) -> None:
    token = await host.token("read")
    for path in ("/api", "/api/whoami", "/reports", "/items/7"):
        assert (await host.get(path, token)).status_code == 200, path


# -- expiry and revocation ------------------------------------------------------------------------


async def test_expired_token_is_refused_after_a_real_wait(store: Store) -> None:
    async with open_host(store, settings=settings_for(access_token_lifetime=1.0)) as host:
        token = await host.token()
        first = await host.get("/api/whoami", token)
        assert first.status_code == 200, first.text
        exp = first.json()["exp"]
        assert exp - time.time() <= 1.0
        await asyncio.sleep(max(0.0, exp - time.time()) + 0.3)
        assert_invalid(await host.get("/api/whoami", token))


async def test_revoked_token_is_refused_on_the_very_next_request(host: Host) -> None:
    token = await host.token()
    assert (await host.get("/api/whoami", token)).status_code == 200
    await revoke(host.http, host.clients["m2m"], token)
    assert_invalid(await host.get("/api/whoami", token))


async def test_revoking_the_refresh_token_refuses_its_access_tokens_at_once(host: Host) -> None:
    tokens = await issue_for_user(host.http, host.clients["app"], "read write")
    assert (await host.get("/api/whoami", tokens["access_token"])).status_code == 200
    await revoke(host.http, host.clients["app"], tokens["refresh_token"])
    assert_invalid(await host.get("/api/whoami", tokens["access_token"]))


async def test_a_refresh_token_is_never_a_bearer_token(host: Host) -> None:
    tokens = await issue_for_user(host.http, host.clients["app"], "read")
    assert_invalid(await host.get("/api/whoami", tokens["refresh_token"]))
    # while it is a perfectly live refresh token:
    refreshed = await host.http.post(
        "/oauth/token",
        auth=host.clients["app"].basic,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert (await host.get("/api/whoami", refreshed.json()["access_token"])).status_code == 200


# -- scopes ---------------------------------------------------------------------------------------


async def test_missing_scope_is_403_insufficient_scope(host: Host) -> None:
    token = await host.token("read write")
    assert_insufficient(await host.get("/api/admin/users", token), "admin")


async def test_required_scope_granted(host: Host) -> None:
    token = await host.token("admin")
    response = await host.get("/api/admin/users", token)
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == ["admin"]


async def test_insufficient_scope_still_needs_a_valid_token_first(host: Host) -> None:
    assert_missing(await host.get("/api/admin/users"))
    assert_invalid(await host.get("/api/admin/users", "junk"))


async def test_rule_with_mode_any(host: Host) -> None:
    assert (await host.get("/either", await host.token("write"))).status_code == 200
    assert (await host.get("/either", await host.token("admin"))).status_code == 200
    assert_insufficient(await host.get("/either", await host.token("read")), "admin write")


async def test_every_way_to_protect_a_route_names_every_scope_it_needs(store: Store) -> None:
    """RFC 6750 section 3.1: a 403's scope is what the resource needs, the same whether one rule asks for both
    scopes or a rule asks for one and the endpoint (decorator, or a dependency's bearer_refusal) for the other."""

    async def refusing(request: Request) -> Response:
        refusal = await bearer_refusal(request, "write")
        return refusal if refusal is not None else JSONResponse({"ok": True})

    @requires_scopes("write")
    async def decorated(request: Request) -> Response:
        return JSONResponse({"ok": True})

    rules = [protect("/both", "read", "write"), protect("/staged", "read"), *RULES]
    routes = [Route("/both", refusing), Route("/staged/dependency", refusing), Route("/staged/decorated", decorated)]
    async with open_host(store, rules=rules, extra_routes=routes) as host:
        reader = await host.token("read")
        for path in ("/both", "/staged/dependency", "/staged/decorated"):
            assert_insufficient(await host.get(path, reader), "read write")
        assert (await host.get("/staged/dependency", await host.token("read write"))).status_code == 200


async def test_starlette_requires_works_behind_the_middleware(host: Host) -> None:
    """``/api/starlette`` is ``@starlette.authentication.requires("write")``, under the scope-less ``/api`` rule."""
    ok = await host.get("/api/starlette", await host.token("read write"))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "client_id": "m2m"}
    # Starlette's own refusal: a plain 403 raised by the decorator, not the middleware's challenge
    refused = await host.get("/api/starlette", await host.token("read"))
    assert refused.status_code == 403
    assert "www-authenticate" not in refused.headers
    assert_missing(await host.get("/api/starlette"))


async def test_starlette_requires_on_an_uncovered_route_is_403_not_500(host: Host) -> None:
    """No rule covers the route, so nothing is validated; ``request.auth`` is anonymous rather than missing."""
    assert (await host.get("/uncovered/requires")).status_code == 403
    # a token sent to an uncovered route is not looked at either: cover the route with a rule to use it
    assert (await host.get("/uncovered/requires", await host.token("read"))).status_code == 403


async def test_requires_scopes_mode_all(host: Host) -> None:
    assert_missing(await host.get("/decorated/all"))
    assert_invalid(await host.get("/decorated/all", "junk"))
    assert_insufficient(await host.get("/decorated/all", await host.token("read")), "read write")
    ok = await host.get("/decorated/all", await host.token("read write"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["mode"] == "all"
    assert ok.json()["scopes"] == ["read", "write"]
    assert ok.json()["scopes_type"] == "frozenset"


async def test_requires_scopes_mode_any(host: Host) -> None:
    assert_missing(await host.get("/decorated/any"))
    assert_insufficient(await host.get("/decorated/any", await host.token("read")), "admin write")
    for scope in ("write", "admin", "read admin"):
        ok = await host.get("/decorated/any", await host.token(scope))
        assert ok.status_code == 200, (scope, ok.text)
        assert ok.json()["mode"] == "any"


async def test_requires_scopes_needs_the_middleware() -> None:
    app = Starlette(routes=[Route("/x", decorated_all)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        with pytest.raises(RuntimeError, match="BearerTokenMiddleware"):
            await http.get("/x")


# -- which paths are protected --------------------------------------------------------------------


async def test_prefix_rule_stops_at_a_segment_boundary(host: Host) -> None:
    assert_missing(await host.get("/api"))
    assert_missing(await host.get("/api/"))
    assert_missing(await host.get("/api/whoami"))
    # covered even where no route exists: the middleware answers before routing
    assert_missing(await host.get("/api/no/such/route"))
    apix = await host.get("/apix")
    assert apix.status_code == 200
    assert apix.json() == {"public": True, "has_token": False, "authenticated": False}


async def test_unprotected_route_passes_through_untouched_even_with_a_token(host: Host) -> None:
    for headers in ({}, bearer("junk"), bearer(await host.token())):
        response = await host.http.get("/public", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"public": True, "has_token": False, "authenticated": False}


async def test_route_pattern_rule(host: Host) -> None:
    assert (await host.get("/items")).status_code == 200  # the list is public
    assert_missing(await host.get("/items/42"))
    assert_insufficient(await host.get("/items/42", await host.token("write")), "read")
    ok = await host.get("/items/42", await host.token("read"))
    assert ok.status_code == 200
    assert ok.json() == {"item_id": "42", "client_id": "m2m"}
    # the pattern matches whole paths only
    assert (await host.get("/items/42/more")).status_code == 404


async def test_rule_limited_to_some_methods(host: Host) -> None:
    assert (await host.get("/docs")).json() == {"docs": "anyone may read these"}
    assert_missing(await host.request("POST", "/docs"))
    assert_insufficient(await host.request("POST", "/docs", await host.token("read")), "write")
    written = await host.request("POST", "/docs", await host.token("write"))
    assert written.status_code == 201
    assert written.json() == {"written_by": "m2m"}


async def test_a_get_rule_covers_head_too(host: Host) -> None:
    """Starlette answers HEAD with the GET endpoint, so a GET-only rule must not leave HEAD open."""
    assert_missing(await host.get("/reports"))
    head = await host.request("HEAD", "/reports")
    assert head.status_code == 401
    assert head.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert (await host.request("HEAD", "/reports", await host.token("read"))).status_code == 200
    # other methods are not covered by the rule: the route itself answers 405
    assert (await host.request("POST", "/reports")).status_code == 405


async def test_rules_of_a_mounted_sub_app_are_relative_to_its_mount(store: Store) -> None:
    """A sub-app's rules are written like its routes; mounting it under /v1 must not unprotect them."""
    clients = make_cast()
    oauth = OAuthServer(
        settings_for(), store=store, clients=[c.client for c in clients.values()], password_verifier=verify_password
    )
    sub = Starlette(
        routes=[Route("/items", whoami), Route("/open", whoami)],
        middleware=[Middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/items")])],
    )
    app = Starlette(routes=[Mount("/oauth", app=oauth), Mount("/v1", app=sub)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        assert (await http.get("/v1/items")).status_code == 401
        token = await issue(http, clients["m2m"], "read")
        ok = await http.get("/v1/items", headers=bearer(token))
        assert ok.status_code == 200
        assert ok.json()["path"] == "/v1/items"


async def test_query_string_token_is_refused_by_default(host: Host) -> None:
    token = await host.token()
    assert_missing(await host.http.get("/api/whoami", params={"access_token": token}))


async def test_form_body_token_is_never_accepted(host: Host) -> None:
    token = await host.token("read write")
    assert_missing(await host.http.post("/api/whoami", data={"access_token": token}))


async def test_query_string_token_when_allowed(store: Store) -> None:
    async with open_host(store, allow_query_token=True) as host:
        token = await host.token()
        ok = await host.http.get("/api/whoami", params={"access_token": token})
        assert ok.status_code == 200, ok.text
        assert ok.json()["client_id"] == "m2m"
        assert_invalid(await host.http.get("/api/whoami", params={"access_token": "junk"}))
        bad = await host.http.get("/api/whoami", params={"access_token": "tok@en"})
        assert bad.status_code == 400
        # RFC 6750 section 2: one method per request, so header and query together are refused
        both = await host.get("/api/whoami", token, params={"access_token": token})
        assert_malformed(both)


# -- the store cannot be reached ------------------------------------------------------------------


async def test_redis_unreachable_is_503_never_a_pass(unreachable_store: RedisStore) -> None:
    async with open_host(unreachable_store) as host:
        _, token = new_token()  # well formed, so validation must ask the store
        for path in ("/api/whoami", "/api/admin/users", "/items/1", "/decorated/all", "/decorated/any"):
            assert_unavailable(await host.get(path, token))
        # what needs no store still answers as usual
        assert_missing(await host.get("/api/whoami"))
        assert_invalid(await host.get("/api/whoami", "junk"))
        assert (await host.get("/public", token)).status_code == 200


# -- Redis round trips, counted on the server -----------------------------------------------------


class CommandCounter:
    """Commands the test Redis executed, from ``INFO commandstats`` on a connection of its own.

    The counts are server-wide: they assume nothing else talks to the test Redis meanwhile, which holds
    for the private redis-server of a test session (and for any Redis given only to these tests).
    """

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, single_connection_client=True)

    async def snapshot(self) -> dict[str, int]:
        stats: Mapping[str, Mapping[str, Any]] = await self._redis.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}

    async def delta(self, before: Mapping[str, int]) -> dict[str, int]:
        after = await self.snapshot()
        changed = {name: calls - before.get(name, 0) for name, calls in after.items()}
        # our own INFO calls are the only commands this connection sends
        return {name: n for name, n in changed.items() if n and name != "info"}

    async def aclose(self) -> None:
        await self._redis.aclose()


@pytest.fixture
async def counter(redis_url: str) -> AsyncIterator[CommandCounter]:
    counting = CommandCounter(redis_url)
    try:
        await counting.snapshot()  # connect now, so the handshake is not counted later
        yield counting
    finally:
        await counting.aclose()


async def test_redis_round_trips_unprotected_zero_protected_one(
    redis_store: RedisStore, counter: CommandCounter
) -> None:
    async with open_host(redis_store) as host:
        token = await host.token("read")
        # warm the store's pool so a new connection's handshake is not in the counts below
        assert (await host.get("/api/whoami", token)).status_code == 200

        cases: list[tuple[str, str | None, int, dict[str, int]]] = [
            ("/public", None, 200, {}),
            ("/public", token, 200, {}),  # a token on an unprotected path is not even looked at
            ("/apix", token, 200, {}),
            ("/items", token, 200, {}),
            ("/docs", token, 200, {}),  # GET is not covered by the POST-only rule
            ("/oauth/.well-known/oauth-authorization-server", token, 200, {}),
            ("/api/whoami", None, 401, {}),  # no token: nothing to look up
            ("/api/whoami", "junk", 401, {}),  # not shaped like a token: refused without a lookup
            ("/api/whoami", token, 200, {"mget": 1}),  # local validation: one round trip, both names of the token
            ("/api/admin/users", token, 403, {"mget": 1}),
            ("/decorated/all", token, 403, {"mget": 1}),
        ]
        for path, sent, status, expected in cases:
            before = await counter.snapshot()
            response = await host.get(path, sent)
            assert response.status_code == status, (path, response.text)
            assert await counter.delta(before) == expected, (path, sent is not None)


async def test_a_remembered_token_is_answered_from_memory_and_only_as_sent(
    redis_url: str, key_prefix: str, counter: CommandCounter
) -> None:
    """With the validation cache, a token validated once is accepted with no round trip; the memory path looks
    up the header's bytes as sent, so any other spelling of the same token gets the full checks, refusals
    included (a token in the query beside it is still two methods, an altered one still unknown)."""
    async with (
        trusting_cache(redis_url, key_prefix=key_prefix) as store,
        open_host(store, allow_query_token=True) as host,
    ):
        token = await host.token("read")
        assert (await host.get("/api/whoami", token)).status_code == 200  # read from the store, now remembered
        cases: list[tuple[dict[str, str], dict[str, str], int]] = [
            ({"Authorization": f"Bearer {token}"}, {}, 200),
            ({"Authorization": f"bearer   {token} "}, {}, 200),  # same token, spelled otherwise: full path
            ({"Authorization": f"Bearer {token}"}, {"access_token": token}, 400),
            ({"Authorization": f"Bearer {token[:-1]}x"}, {}, 401),
            ({"Authorization": f"Bearer {token} x"}, {}, 400),
        ]
        for headers, params, status in cases:
            before = await counter.snapshot()
            response = await host.http.get("/api/whoami", headers=headers, params=params)
            assert response.status_code == status, (headers, params, response.text)
            if status == 200:
                assert response.json()["client_id"] == "m2m"
                assert await counter.delta(before) == {}, headers  # from memory, every spelling


async def test_the_counter_does_see_commands(redis_store: RedisStore, counter: CommandCounter) -> None:
    """The zero counts above mean something: a command from the store shows up in the delta."""
    before = await counter.snapshot()
    await redis_store.get_client("nobody")
    await redis_store.ping()
    assert await counter.delta(before) == {"hget": 1, "ping": 1}


# -- Starlette's AuthenticationMiddleware with the bearer backend ---------------------------------


@requires("read")
async def backend_read(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "client_id": request.state.token.client_id,
            "scopes": sorted(request.state.scopes),
            "scopes_type": type(request.state.scopes).__name__,
            "identity": request.user.identity,
            "auth_scopes": list(request.auth.scopes),
        }
    )


async def backend_public(request: Request) -> JSONResponse:
    return JSONResponse({"authenticated": request.user.is_authenticated})


def backend_app(store: Store, clients: Mapping[str, Cred], *, rfc6750_errors: bool) -> Starlette:
    backend = BearerAuthBackend(LocalValidator(store), realm=REALM)
    options: dict[str, Any] = {"on_error": backend.on_error} if rfc6750_errors else {}
    oauth = OAuthServer(
        settings_for(), store=store, clients=[c.client for c in clients.values()], password_verifier=verify_password
    )
    return Starlette(
        routes=[Route("/read", backend_read), Route("/public", backend_public), Mount("/oauth", app=oauth)],
        middleware=[Middleware(AuthenticationMiddleware, backend=backend, **options)],
    )


@asynccontextmanager
async def backend_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http


async def test_backend_with_authentication_middleware(store: Store) -> None:
    clients = make_cast()
    async with backend_client(backend_app(store, clients, rfc6750_errors=False)) as http:
        token = await issue(http, clients["m2m"], "read write")
        ok = await http.get("/read", headers=bearer(token))
        assert ok.status_code == 200, ok.text
        assert ok.json() == {
            "client_id": "m2m",
            "scopes": ["read", "write"],
            "scopes_type": "frozenset",
            "identity": "m2m",
            "auth_scopes": ["read", "write"],
        }
        assert (await http.get("/public", headers=bearer(token))).json() == {"authenticated": True}
        # no token: anonymous, and Starlette's requires() refuses
        assert (await http.get("/public")).json() == {"authenticated": False}
        assert (await http.get("/read")).status_code == 403
        # a token without the scope
        assert (await http.get("/read", headers=bearer(await issue(http, clients["m2m"], "write")))).status_code == 403
        # a bad token: Starlette's default on_error answers 400, never 200
        bad = await http.get("/read", headers=bearer("junk"))
        assert bad.status_code == 400
        assert bad.text == "invalid_token"
        await revoke(http, clients["m2m"], token)
        assert (await http.get("/read", headers=bearer(token))).status_code == 400


async def test_backend_on_error_gives_rfc6750_answers(store: Store) -> None:
    clients = make_cast()
    async with backend_client(backend_app(store, clients, rfc6750_errors=True)) as http:
        assert_invalid(await http.get("/read", headers=bearer("junk")))
        assert_invalid(await http.get("/public", headers=bearer(new_token()[1])))
        assert_malformed(await http.get("/read", headers={"Authorization": "Bearer a b"}))
        token = await issue(http, clients["m2m"], "read")
        assert (await http.get("/read", headers=bearer(token))).status_code == 200


async def test_backend_store_unreachable(unreachable_store: RedisStore) -> None:
    clients = make_cast()
    _, token = new_token()
    async with backend_client(backend_app(unreachable_store, clients, rfc6750_errors=True)) as http:
        assert_unavailable(await http.get("/read", headers=bearer(token)))
        assert_unavailable(await http.get("/public", headers=bearer(token)))
        assert (await http.get("/public")).json() == {"authenticated": False}
    async with backend_client(backend_app(unreachable_store, clients, rfc6750_errors=False)) as http:
        refused = await http.get("/public", headers=bearer(token))
        assert refused.status_code == 400  # Starlette's default on_error: still never a pass
        assert refused.text == "temporarily_unavailable"


def test_challenge_helper_rejects_a_malformed_header() -> None:
    """The parser the assertions rely on does fail on what it should."""
    response = httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="a", error=invalid_token'})
    with pytest.raises(AssertionError):
        challenge(response)


def test_rules_are_matched_once_per_path_in_order() -> None:
    """The rule of a (method, path) is remembered: the first matching rule, as before; a bounded memo."""
    from asgi_oauth import middleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    rules = [protect("/api/admin", "admin", methods=["POST"]), protect("/api", "read"), protect("/items/{id}", "x")]
    guard = BearerTokenMiddleware(
        app, validator=LocalValidator(RedisStore.from_url("redis://127.0.0.1:1")), rules=rules
    )
    for _ in range(2):  # computed, then remembered
        assert guard.rule_for("POST", "/api/admin") is guard.rules[0]
        assert guard.rule_for("GET", "/api/admin") is guard.rules[1]
        assert guard.rule_for("HEAD", "/api") is guard.rules[1]
        assert guard.rule_for("GET", "/apix") is None
        assert guard.rule_for("GET", "/items/7") is guard.rules[2]
    for i in range(middleware._RULE_MEMO + 10):
        assert guard.rule_for("GET", f"/other/{i}") is None
    assert len(guard._rule_of) <= middleware._RULE_MEMO
