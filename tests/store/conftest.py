"""The store contract runs on every deployment the Redis store supports, not only on one server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asgi_oauth.store import MemoryStore, Store

from ..conftest import open_redis_store


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel"])
async def store(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Store]:
    """Each test using this runs on the memory store, one Redis, a 3-master Redis Cluster and through Sentinel.

    Overrides the ``store`` fixture of tests/conftest.py for this directory only; the servers are started
    lazily, so ``-k memory`` starts none.
    """
    if request.param == "memory":
        yield MemoryStore()
        return
    url_fixture = {"redis": "redis_url", "cluster": "redis_cluster_url", "sentinel": "redis_sentinel_url"}
    url: str = request.getfixturevalue(url_fixture[request.param])
    async with open_redis_store(url, key_prefix=key_prefix) as redis_store:
        yield redis_store
