"""Which deployment a ``redis_url`` selects, and how its parts are read (no server needed)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from asgi_oauth.settings import OAuthSettings
from asgi_oauth.store.redis import connect

SECRET = (SecretStr("s" * 40),)


async def test_a_plain_url_is_one_server() -> None:
    client = connect("redis://:pw@h:6380/2", timeout=1.5)
    try:
        assert type(client) is aioredis.Redis
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("h", 6380, 2, "pw")
        assert kwargs["socket_timeout"] == 1.5
    finally:
        await client.aclose()


async def test_a_cluster_url_lists_seed_nodes() -> None:
    client = connect("redis+cluster://us%40r:p%3Aw@h1:7000,h2,[::1]:7002", timeout=1.5)
    try:
        assert isinstance(client, RedisCluster)
        assert set(client.nodes_manager.startup_nodes) == {"h1:7000", "h2:6379", "::1:7002"}
        kwargs = client.nodes_manager.connection_kwargs
        assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == ("us@r", "p:w", 1.5)
        # A frozen node costs two timeouts, not redis-py's default of eleven.
        assert client.retry.get_retries() == 1
    finally:
        await client.aclose()


async def test_a_sentinel_url_names_sentinels_service_and_db() -> None:
    client = connect("redis+sentinel://:p%40ss@s1,s2:26380/mymaster/3", timeout=1.5)
    assert type(client) is aioredis.Redis
    pool = client.connection_pool
    try:
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "mymaster"
        assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (3, "p@ss")
        sentinels = pool.sentinel_manager.sentinels
        options = [s.connection_pool.connection_kwargs for s in sentinels]
        assert [(o["host"], o["port"]) for o in options] == [("s1", 26379), ("s2", 26380)]
        # Each is asked once (a dead one must not cost seconds of retries), within the timeout.
        assert all(o["socket_timeout"] == 1.5 and o["retry"].get_retries() == 0 for o in options)
    finally:
        await client.aclose()
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def test_a_sentinel_url_needs_a_service() -> None:
    with pytest.raises(ValueError, match="service"):
        connect("redis+sentinel://s1:26379")
    with pytest.raises(ValueError, match="redis_url"):
        OAuthSettings(redis_url="redis+sentinel://s1:26379/", secret_key=SECRET)


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://h:7000,h2:7001",
        "rediss+cluster://h",
        "redis+sentinel://s1,s2:26380/m/1",
        "rediss+sentinel://s/m",
    ],
)
def test_settings_accept_cluster_and_sentinel_urls(url: str) -> None:
    assert OAuthSettings(redis_url=url, secret_key=SECRET).redis_url == url
