"""Our server as a user deploys it: a Starlette app with the OAuth sub-app mounted at ``/oauth`` and the
bearer middleware guarding ``/api/me``, on Redis or on the in-process memory store.

Only the public API is used to serve requests. Seeding authorization codes uses the store and crypto
helpers directly, standing in for a browser going through ``/authorize`` (sign-in and consent are the host
application's business, so they are not part of what is measured).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import MemoryStore, OAuthServer, OAuthSettings, RedisStore, crypto
from asgi_oauth.clients import new_client
from asgi_oauth.models import AccessToken, AuthorizationCode, TokenFamily

try:
    from asgi_oauth.validation_cache import CacheOptions
except ImportError:  # a release before the module's rename, benchmarked beside this one
    from asgi_oauth.revocation import CacheOptions  # type: ignore[no-redef]

from .common import (
    ACCESS_LIFETIME,
    CLIENT_NAME,
    CODE_LIFETIME,
    REDIRECT_URI,
    REFRESH_LIFETIME,
    SCOPE,
    USER,
    BenchConfig,
    closing_lifespan,
    code_exchange_params,
    pkce_pair,
    seed_route,
    with_closer,
)

ISSUER = "http://127.0.0.1:8000/oauth"


async def _me(request: Request) -> JSONResponse:
    """A host's "who am I" route, as the README writes one: what the middleware attached, as JSON (the same
    fields as the Authlib app's route). Releases before ``AccessToken`` records attached a dict."""
    token: Any = request.state.token
    if isinstance(token, dict):
        return JSONResponse({"sub": token.get("sub"), "client_id": token.get("client_id"), "scope": token.get("scope")})
    return JSONResponse({"sub": token.sub, "client_id": token.client_id, "scope": token.scope})


def _bearer_middleware(store: Any, settings: OAuthSettings) -> tuple[Middleware | None, str | None]:
    """The bearer middleware guarding ``/api/me`` (scope ``read``), validating locally against the same
    store; ``(None, why)`` when this checkout does not have it, so that scenario is skipped, not failed."""
    try:
        from asgi_oauth.middleware import BearerTokenMiddleware, LocalValidator, protect
    except ImportError as exc:
        return None, f"asgi_oauth.middleware is not importable ({exc})"
    try:
        rules = [protect("/api/me", "read")]
        return Middleware(
            BearerTokenMiddleware, validator=LocalValidator(store), rules=rules, realm=settings.realm
        ), None
    except Exception as exc:
        return None, f"could not configure BearerTokenMiddleware: {exc!r}"


def client_ids(config: BenchConfig, n: int) -> list[str]:
    """The benchmark client's id, then ``n - 1`` more (all with the same secret), for the many-clients checks."""
    return [config.client_id, *(f"{config.client_id}-{i}" for i in range(1, n))]


def create_app(
    config: BenchConfig | None = None, *, memory: bool = False, cache: bool = False, clients: int = 1
) -> Starlette:
    config = config or BenchConfig.from_env()
    prefix = config.key_prefix("oauth")
    settings = OAuthSettings(
        issuer=ISSUER,
        secret_key=(SecretStr(config.client_secret + "-signing-key"),),
        key_prefix=prefix,
        access_token_lifetime=ACCESS_LIFETIME,
        refresh_token_lifetime=REFRESH_LIFETIME,
        authorization_code_lifetime=CODE_LIFETIME,
    )
    # ``cache``: the worker-local validation cache, as store_from_settings turns it on by default.
    options = CacheOptions() if cache else None
    store: Any = MemoryStore() if memory else RedisStore.from_url(config.redis_url, key_prefix=prefix, cache=options)
    # The runner hands every process the same generated secret, so tokens minted in-process validate
    # against the uvicorn subprocess too; store its hash the way a generated secret is stored.
    secret_hash = crypto.hash_secret(config.client_secret, generated=True)
    registered = [
        dataclasses.replace(
            new_client(
                name=CLIENT_NAME,
                client_id=client_id,
                grant_types=["client_credentials", "authorization_code", "refresh_token"],
                redirect_uris=[REDIRECT_URI],
                scope=SCOPE,
            )[0],
            secret_hash=secret_hash,
        )
        for client_id in client_ids(config, clients)
    ]
    client = registered[0]
    server = OAuthServer(settings, store=store, clients=registered)

    async def seed_codes(n: int) -> list[dict[str, str]]:
        expires = time.time() + CODE_LIFETIME

        async def one() -> dict[str, str]:
            family_id, code = crypto.new_token()
            verifier, challenge = pkce_pair()
            record = AuthorizationCode(
                client_id=client.client_id,
                redirect_uri=REDIRECT_URI,
                redirect_uri_sent=True,
                scope=SCOPE,
                sub=USER,
                exp=expires,
                code_challenge=challenge,
                code_challenge_method="S256",
                username=USER,
            )
            await store.put_code(family_id, crypto.digest(code, "code"), record)
            return code_exchange_params(code, verifier)

        params: list[dict[str, str]] = []
        for start in range(0, n, 32):
            params.extend(await asyncio.gather(*(one() for _ in range(min(32, n - start)))))
        return params

    bearer, why_not = _bearer_middleware(store, settings)
    routes: list[Any] = [
        Mount("/oauth", app=server),
        Route("/api/me", _me, methods=["GET"]),
        seed_route(seed_codes, "/oauth/token", config),
    ]

    async def close() -> None:
        await store.aclose()

    middleware = [bearer] if bearer is not None else []
    app = Starlette(routes=routes, middleware=middleware, lifespan=closing_lifespan(close))
    app = with_closer(app, close)
    app.state.bench_skips = {} if why_not is None else {"protected": why_not}
    app.state.bench_store = store
    return app


def create_redis_app() -> Starlette:
    return create_app(memory=False)


def create_cached_app() -> Starlette:
    return create_app(memory=False, cache=True)


def create_memory_app() -> Starlette:
    return create_app(memory=True)


async def put_families(app: Starlette, config: BenchConfig, n: int) -> None:
    """Write ``n`` refresh families, each with its first access token, through the app's store (what a
    code exchange leaves behind), for the memory-per-family check. One at a time, so Redis sees one
    connection and its buffers do not pass for token memory."""
    store = app.state.bench_store
    now = time.time()

    async def one() -> None:
        family_id, refresh = crypto.new_token()
        _, access = crypto.new_token(family_id)
        family = TokenFamily(
            refresh_digest=crypto.digest(refresh, "refresh"),
            client_id=config.client_id,
            scope=SCOPE,
            sub=USER,
            iat=int(now),
            exp=now + REFRESH_LIFETIME,
            username=USER,
        )
        token = AccessToken(
            client_id=config.client_id,
            scope=SCOPE,
            sub=USER,
            iat=int(now),
            exp=now + ACCESS_LIFETIME,
            username=USER,
        )
        await store.put_family(family_id, family, crypto.digest(access, "access"), token)

    for _ in range(n):
        await one()
