"""The stack's ceiling: bare Starlette routes doing exactly one Redis command (or none).

No OAuth server can beat these on the same machine with the same Redis client, since issuing a token
needs at least one write and validating one at least one read, so every other app is reported as a
share of them. The ceilings use redis-py, as the peers do. A second pair of routes, for reference, does
the same on asgi_oauth's pipelined connection (``asgi_oauth.store.pipeline``), the one our Redis store
uses: comparing against it shows what our server costs beyond its Redis client.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth.store.pipeline import Endpoint, PipelinedRedis

from .common import ACCESS_LIFETIME, BenchConfig, closing_lifespan, with_closer

_RECORD = '["bench-client","read write",null,1700000000,1700003600000,0]'


def _app(
    prefix: str,
    set_ex: Callable[[str, str], Awaitable[Any]],
    get: Callable[[str], Awaitable[Any]],
    close: Callable[[], Awaitable[None]],
) -> Starlette:
    async def set_route(request: Request) -> JSONResponse:
        """Issuance ceiling: one ``SET key val EX n`` and a token-sized answer."""
        token = secrets.token_urlsafe(32)
        await set_ex(prefix + token, _RECORD)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_LIFETIME})

    async def get_route(request: Request) -> JSONResponse:
        """Validation ceiling: one ``GET`` of the key named by the bearer token."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        value = await get(prefix + token)
        if value is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"active": True, "record": value if isinstance(value, str) else value.decode()})

    async def constant(request: Request) -> JSONResponse:
        """The framework alone: no Redis at all."""
        return JSONResponse({"ok": True})

    routes = [Route("/set", set_route, methods=["POST"]), Route("/get", get_route), Route("/json", constant)]
    return with_closer(Starlette(routes=routes, lifespan=closing_lifespan(close)), close)


def create_app(config: BenchConfig | None = None) -> Starlette:
    """The ceilings: redis-py's ``Redis`` client, one pooled connection per command."""
    config = config or BenchConfig.from_env()
    redis = aioredis.Redis.from_url(config.redis_url)

    async def set_ex(key: str, value: str) -> Any:
        return await redis.set(key, value, ex=ACCESS_LIFETIME)

    return _app(config.key_prefix("ceiling:"), set_ex, redis.get, redis.aclose)


def create_pipelined_app(config: BenchConfig | None = None) -> Starlette:
    """The same routes on asgi_oauth's pipelined connection (reference only; targets use the ceilings)."""
    config = config or BenchConfig.from_env()
    endpoint = Endpoint.of_pool(aioredis.ConnectionPool.from_url(config.redis_url))
    if endpoint is None:
        raise RuntimeError(f"the pipelined connection does not serve {config.redis_url}")
    redis = PipelinedRedis(endpoint)

    async def set_ex(key: str, value: str) -> Any:
        return await redis.execute("SET", key, value, "EX", ACCESS_LIFETIME)

    async def get(key: str) -> Any:
        return await redis.execute("GET", key)

    return _app(config.key_prefix("ceiling-pipelined:"), set_ex, get, redis.aclose)
