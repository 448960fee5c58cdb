"""The HTTP fixtures of ``tests/web`` and ``tests/oidc``: DPoP is tested through the real app, on both stores, and
on Redis with the validation cache, where a resource judges proofs on the middleware's synchronous path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asgi_oauth.store import MemoryStore, Store

from ..conftest import open_redis_store, trusting_cache
from ..oidc.conftest import make_provider as make_provider
from ..web.conftest import make_server as make_server


@pytest.fixture(params=["memory", "redis", "redis-cache"])
async def store(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "redis":
        async with open_redis_store(redis_url, key_prefix=key_prefix) as plain:
            yield plain
    else:
        async with trusting_cache(redis_url, key_prefix=key_prefix) as cached:
            yield cached
