"""Sentinel: the real app on the master a private Sentinel names, and failing as StoreUnavailable.

The store contract itself runs through Sentinel too (tests/store/conftest.py adds a ``sentinel`` store).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.sentinel import SentinelConnectionPool

from asgi_oauth.store import RedisStore

from ..conftest import SENTINEL_SERVICE, open_redis_store
from ..serving import free_port
from ..store.test_redis import CALLS, assert_unavailable
from .flows import full_flow, running_app


@pytest.fixture
async def sentinel_store(redis_sentinel_url: str, key_prefix: str) -> AsyncIterator[RedisStore]:
    async with open_redis_store(redis_sentinel_url, key_prefix=key_prefix) as store:
        yield store


async def test_the_app_runs_every_flow_through_sentinel(
    sentinel_store: RedisStore, redis_sentinel_url: str, key_prefix: str
) -> None:
    assert isinstance(sentinel_store.redis, aioredis.Redis)
    pool = sentinel_store.redis.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    async with running_app(sentinel_store) as app:
        await full_flow(app)

    # The records are on the master the Sentinel names.
    host, port = await pool.sentinel_manager.discover_master(SENTINEL_SERVICE)
    master = aioredis.Redis(host=host, port=port)
    try:
        keys = [key async for key in master.scan_iter(match=f"{key_prefix}:*")]
        assert f"{key_prefix}:clients".encode() in keys
        assert any(b":f" in key for key in keys)
    finally:
        await master.aclose()


async def test_a_dead_sentinel_in_the_list_is_skipped(redis_sentinel_url: str, key_prefix: str) -> None:
    live = redis_sentinel_url.removeprefix("redis+sentinel://")
    async with open_redis_store(f"redis+sentinel://127.0.0.1:{free_port()},{live}", key_prefix=key_prefix) as store:
        await store.ping()
        assert await store.claim_once("nonce", expires_at=9e9)
        assert not await store.claim_once("nonce", expires_at=9e9)


@pytest.mark.parametrize("verb", ["ping", "get_client", "lookup", "take_code", "rotate_refresh", "put_consent"])
async def test_no_reachable_sentinel_is_store_unavailable(verb: str) -> None:
    url = f"redis+sentinel://127.0.0.1:{free_port()}/{SENTINEL_SERVICE}"
    async with open_redis_store(url, timeout=0.5) as store:
        await assert_unavailable(store, CALLS[verb])


async def test_an_unknown_service_is_store_unavailable(redis_sentinel_url: str) -> None:
    """The Sentinels answer but name no such master: nothing can be stored, so callers answer 503."""
    url = redis_sentinel_url.replace(f"/{SENTINEL_SERVICE}/", "/no-such-service/")
    async with open_redis_store(url, timeout=0.5) as store:
        await assert_unavailable(store, CALLS["get_client"])
