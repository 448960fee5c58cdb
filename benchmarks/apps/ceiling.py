"""The stack's ceiling: bare Starlette routes doing exactly one Redis command (or none).

No OAuth server can beat these on the same machine, since issuing a token needs at least one write and
validating one at least one read, so every other app is reported as a share of them.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .common import ACCESS_LIFETIME, BenchConfig, closing_lifespan, with_closer

_RECORD = '["bench-client","read write",null,1700000000,1700003600000,0]'


def create_app(config: BenchConfig | None = None) -> Starlette:
    config = config or BenchConfig.from_env()
    redis = aioredis.Redis.from_url(config.redis_url)
    prefix = config.key_prefix("ceiling:")

    async def set_ex(request: Request) -> JSONResponse:
        """Issuance ceiling: one ``SET key val EX n`` and a token-sized answer."""
        token = secrets.token_urlsafe(32)
        await redis.set(prefix + token, _RECORD, ex=ACCESS_LIFETIME)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_LIFETIME})

    async def get(request: Request) -> JSONResponse:
        """Validation ceiling: one ``GET`` of the key named by the bearer token."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        value = await redis.get(prefix + token)
        if value is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"active": True, "record": value if isinstance(value, str) else value.decode()})

    async def constant(request: Request) -> JSONResponse:
        """The framework alone: no Redis at all."""
        return JSONResponse({"ok": True})

    async def close() -> None:
        await redis.aclose()

    routes = [Route("/set", set_ex, methods=["POST"]), Route("/get", get), Route("/json", constant)]
    return with_closer(Starlette(routes=routes, lifespan=closing_lifespan(close)), close)
