"""The Redis store's part of PAR: each client's pushed requests and push count share one hash tag.

    p:{par:<sha256(client)>}:r:<digest>   string pushed request JSON, TTL = the request_uri's lifetime
    p:{par:<sha256(client)>}:n            string pushes in the current window, TTL = the window

Pushing is one script (count, refuse or store); taking is ``GETDEL``, so a ``request_uri`` is used once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis import exceptions as rexc

from ...store.base import StoreUnavailable
from ...types import Clock
from .store import PushedRequest

# KEYS[1] the client's push counter   KEYS[2] the request's key
# ARGV[1] limit   ARGV[2] window (ms)   ARGV[3] the request JSON   ARGV[4] its lifetime (ms)
# returns 1 kept, 0 refused (the client pushed ``limit`` requests in this window)
_PUSH = """
local pushes = redis.call('INCR', KEYS[1])
if pushes == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if pushes > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
"""


_T = TypeVar("_T")


async def _run(step: Awaitable[_T]) -> _T:
    """``step``, with an unreachable Redis reported as the server reports it for its own store (503)."""
    try:
        return await step
    except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
        raise StoreUnavailable(str(exc)) from exc


class RedisPushedRequests:
    """Pushed requests in the server's Redis (``redis`` is :attr:`~asgi_oauth.store.RedisStore.redis`)."""

    def __init__(self, redis: Any, *, key_prefix: str, clock: Clock = time.time) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock
        self._push = redis.register_script(_PUSH)

    def _tag(self, client_id: str) -> str:
        return f"{self._prefix}:{{par:{hashlib.sha256(client_id.encode()).hexdigest()[:32]}}}"

    async def push_request(self, digest: str, request: PushedRequest, *, limit: int, window: float) -> bool:
        tag = self._tag(request.client_id)
        record = json.dumps({"client_id": request.client_id, "params": dict(request.params), "exp": request.exp})
        lifetime = max(1, round((request.exp - self._clock()) * 1000))
        args = [limit, max(1, round(window * 1000)), record, lifetime]
        return bool(await _run(self._push(keys=[f"{tag}:n", f"{tag}:r:{digest}"], args=args)))

    async def get_request(self, client_id: str, digest: str) -> PushedRequest | None:
        return self._live(await _run(self._redis.get(f"{self._tag(client_id)}:r:{digest}")), client_id)

    async def take_request(self, client_id: str, digest: str) -> PushedRequest | None:
        return self._live(await _run(self._redis.getdel(f"{self._tag(client_id)}:r:{digest}")), client_id)

    def _live(self, raw: bytes | None, client_id: str) -> PushedRequest | None:
        if raw is None:
            return None
        data = json.loads(raw)
        request = PushedRequest(data["client_id"], data["params"], data["exp"])
        return request if request.client_id == client_id and request.exp > self._clock() else None
