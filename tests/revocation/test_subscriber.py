"""The cache's subscription on real Redis servers: it learns of revocations, and stops trusting itself the moment
it cannot prove that it would (connection killed, server frozen), on one server, a Cluster and Sentinel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from asgi_oauth import crypto
from asgi_oauth.middleware import LocalValidator, ValidationUnavailable
from asgi_oauth.models import AccessToken, Client, TokenFamily
from asgi_oauth.settings import OAuthSettings
from asgi_oauth.store import RedisStore, store_from_settings
from asgi_oauth.validation_cache import CacheOptions, ValidationCache

from ..conftest import open_redis_store
from ..reliability.stack import redis_server

LEASE = 0.25


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait for ``condition`` (a bound on a wait, not a measurement)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


def kept(store: RedisStore) -> ValidationCache:
    assert store.validation_cache is not None
    return store.validation_cache


async def trusted(store: RedisStore) -> ValidationCache:
    cache = kept(store)
    await until(cache.trusted, "the cache trusts its subscription")
    return cache


async def new_token(store: RedisStore, client_id: str = "app") -> tuple[str, str]:
    """A live access token with a refresh family; ``(token, family id)``."""
    family_id, token = crypto.new_token()
    now = time.time()
    access = AccessToken(client_id=client_id, scope="read", sub="alice", iat=int(now), exp=now + 600)
    family = TokenFamily(
        client_id=client_id,
        scope="read",
        sub="alice",
        refresh_digest=crypto.digest("r" + token, "refresh"),
        iat=int(now),
        exp=now + 3600,
    )
    await store.put_family(family_id, family, crypto.digest(token, "access"), access)
    return token, family_id


async def held(cached: RedisStore, other: RedisStore) -> tuple[ValidationCache, LocalValidator, str, str]:
    """A token stored through ``other`` and validated once through ``cached``, which now holds it in memory."""
    cache = await trusted(cached)
    validator = LocalValidator(cached)
    token, family_id = await new_token(other)
    assert await validator.validate(token) is not None
    return cache, validator, token, family_id


@pytest.fixture
async def pair(redis_url: str, key_prefix: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two workers' stores on one Redis: ``cached`` keeps a cache, ``other`` revokes."""
    async with (
        open_redis_store(redis_url, key_prefix=key_prefix, cache=CacheOptions(lease=LEASE)) as cached,
        open_redis_store(redis_url, key_prefix=key_prefix) as other,
    ):
        yield cached, other


async def test_validation_answers_from_memory_until_the_family_is_revoked(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    cached, other = pair
    cache, validator, token, family_id = await held(cached, other)
    assert len(cache) == 1
    # Gone from the store behind the cache's back (no announcement): the cache still answers, so it is used.
    await other.redis.delete(f"{cached._keys.prefix}:{{{family_id}}}:a:{crypto.digest(token, 'access')}")
    assert await validator.validate(token) is not None
    epoch = cache.epoch
    assert await other.revoke_family(family_id)
    await until(lambda: cache.epoch != epoch, "the announcement arrives")
    assert await validator.validate(token) is None


async def test_an_announcement_waiting_unread_is_never_overtaken(
    pair: tuple[RedisStore, RedisStore], redis_url: str
) -> None:
    """A request the event loop runs before it has read an announcement that already arrived must not be
    answered from memory: the cache peeks at the subscription first."""
    cached, other = pair
    cache = await trusted(cached)
    token, family_id = await new_token(other)
    assert await LocalValidator(cached).validate(token) is not None
    key = crypto.memory_key(token)
    with redis.Redis.from_url(redis_url) as blocking:  # the event loop does not run meanwhile
        assert blocking.publish(f"{cached._keys.prefix}:revoked", f"family:{family_id}") == 1
        time.sleep(0.05)  # noqa: ASYNC251 (the point: the kernel delivers it while the event loop is held)
    assert cache.access(key, time.time()) is None
    await until(lambda: cache.access(key, time.time()) is None and cache.trusted(), "read")
    assert len(cache) == 0


async def test_a_heartbeat_answer_waiting_unread_is_read_not_sent_to_redis(pair: tuple[RedisStore, RedisStore]) -> None:
    """A PONG that arrived while the event loop was busy is read by the trust check itself: the requests of that
    loop iteration are answered from memory instead of each going to Redis (as they did before)."""
    cached, other = pair
    cache = await trusted(cached)
    token, _ = await new_token(other)
    assert await LocalValidator(cached).validate(token) is not None
    key = crypto.memory_key(token)
    await asyncio.sleep(0)  # a new loop iteration: the next check is a full one
    (subscription,) = cached._subscriber._current  # type: ignore[union-attr]
    pongs = subscription.pongs
    subscription.send(("PING",))
    time.sleep(0.05)  # noqa: ASYNC251 (the event loop held while Redis answers: the PONG waits in the kernel)
    assert cache.access(key, time.time()) is not None
    assert subscription.pongs > pongs  # read by the check, and counted towards the lease (a heartbeat may add one)


async def test_over_tls_waiting_bytes_are_only_peeked_at(pair: tuple[RedisStore, RedisStore]) -> None:
    """TLS bytes belong to the transport (a read past it would break the stream): anything waiting there means
    "not caught up" until the event loop has read it."""
    cached, other = pair
    cache = await trusted(cached)
    token, _ = await new_token(other)
    assert await LocalValidator(cached).validate(token) is not None
    key = crypto.memory_key(token)
    await asyncio.sleep(0)
    (subscription,) = cached._subscriber._current  # type: ignore[union-attr]
    subscription._readable = False  # as a TLS subscription is made
    pongs = subscription.pongs
    subscription.send(("PING",))
    time.sleep(0.05)  # noqa: ASYNC251
    assert cache.access(key, time.time()) is None
    assert subscription.pongs == pongs
    await until(lambda: subscription.pongs > pongs and cache.access(key, time.time()) is not None, "read")


async def test_access_token_revocation_and_client_deletion_are_announced(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    cached, other = pair
    cache, validator, token, family_id = await held(cached, other)
    epoch = cache.epoch
    assert await other.revoke_access(family_id, crypto.digest(token, "access"), client_id="app")
    await until(lambda: cache.epoch != epoch, "the announcement arrives")
    assert await validator.validate(token) is None

    client = Client(client_id="dyn", name="d", secret_hash=None, public=True, dynamic=True)
    assert await other.add_dynamic_client(client, limit=10) == "added"
    cache.keep_client(client, cache.epoch)
    assert cache.client("dyn") == client
    epoch = cache.epoch
    assert await other.delete_client("dyn")
    await until(lambda: cache.epoch != epoch, "the announcement arrives")
    assert cache.client("dyn") is None


async def test_a_killed_subscription_empties_the_cache_and_misses_nothing(
    pair: tuple[RedisStore, RedisStore], redis_url: str
) -> None:
    """CLIENT KILL drops the subscriber; revocations made before it is back are never answered from memory."""
    cached, other = pair
    cache = await trusted(cached)
    validator = LocalValidator(cached)
    admin = aioredis.Redis.from_url(redis_url)
    accepted = 0
    try:
        for _ in range(20):
            token, family_id = await new_token(other)
            assert await validator.validate(token) is not None
            assert len(cache) >= 1
            assert await admin.execute_command("CLIENT KILL TYPE pubsub") >= 1
            assert await other.revoke_family(family_id)  # while nobody listens
            accepted += await validator.validate(token) is not None
            await until(cache.trusted, "the subscription is back")
            accepted += await validator.validate(token) is not None
    finally:
        await admin.aclose()
    assert accepted == 0


async def test_a_frozen_server_stops_the_cache_from_answering(tmp_path: Path, key_prefix: str) -> None:
    """SIGSTOP: the connection stays up but heartbeats go unanswered, so within the lease validation goes back
    to the store (which answers 503 by timing out), and after SIGCONT it is trusted again."""
    with redis_server(tmp_path / "redis") as server:
        async with (
            open_redis_store(server.url, key_prefix=key_prefix, timeout=0.5, cache=CacheOptions(lease=LEASE)) as cached,
            open_redis_store(server.url, key_prefix=key_prefix) as other,
        ):
            cache = await trusted(cached)
            validator = LocalValidator(cached)
            token, family_id = await new_token(other)
            assert await validator.validate(token) is not None
            server.freeze()
            try:
                await until(lambda: not cache.trusted(), "the lease lapses")
                with pytest.raises(ValidationUnavailable):
                    await validator.validate(token)
            finally:
                server.thaw()
            await until(cache.trusted, "trusted again after SIGCONT")
            assert await validator.validate(token) is not None
            assert await other.revoke_family(family_id)
            server.freeze()  # the announcement was written before the reply to the revocation
            try:
                outcome: object
                try:
                    outcome = await validator.validate(token)
                except ValidationUnavailable:
                    outcome = "unavailable"
                assert outcome in (None, "unavailable")
            finally:
                server.thaw()


@pytest.mark.parametrize("deployment", ["cluster", "sentinel"])
async def test_cluster_and_sentinel_announce_to_the_cache(
    deployment: str, request: pytest.FixtureRequest, key_prefix: str
) -> None:
    """On a Cluster the subscriber listens on every primary, so a revocation on any slot reaches it."""
    url = request.getfixturevalue(f"redis_{deployment}_url")
    async with (
        open_redis_store(url, key_prefix=key_prefix, cache=CacheOptions(lease=LEASE)) as cached,
        open_redis_store(url, key_prefix=key_prefix) as other,
    ):
        cache = await trusted(cached)
        validator = LocalValidator(cached)
        tokens = [await new_token(other) for _ in range(12)]  # families spread over the cluster's slots
        for token, _ in tokens:
            assert await validator.validate(token) is not None
        for token, family_id in tokens:
            epoch = cache.epoch
            assert await other.revoke_family(family_id)
            await until(lambda: cache.epoch != epoch, "the announcement arrives")  # noqa: B023
            assert await validator.validate(token) is None


async def test_switched_off_or_unsupported_means_no_cache(redis_url: str, key_prefix: str) -> None:
    async with open_redis_store(redis_url, key_prefix=key_prefix) as plain:
        assert plain.validation_cache is None
    resp3 = aioredis.Redis.from_url(redis_url, protocol=3)
    store = RedisStore(resp3, key_prefix=key_prefix, cache=CacheOptions())
    try:
        assert store.validation_cache is None  # connections this module cannot make: the store reads every time
    finally:
        await store.aclose()


def test_the_settings_switch_the_cache(redis_url: str, key_prefix: str) -> None:
    """On by default for Redis, with the size and lease from the settings; off with VALIDATION_CACHE=false."""
    on = store_from_settings(
        OAuthSettings(redis_url=redis_url, key_prefix=key_prefix, validation_cache_size=7, validation_cache_lease=0.5)
    )
    assert isinstance(on, RedisStore)
    assert on.validation_cache is not None
    assert on.validation_cache.options == CacheOptions(size=7, lease=0.5)
    off = store_from_settings(OAuthSettings(redis_url=redis_url, key_prefix=key_prefix, validation_cache=False))
    assert isinstance(off, RedisStore)
    assert off.validation_cache is None


async def test_a_flood_of_unknown_tokens_evicts_nothing(redis_url: str, key_prefix: str) -> None:
    """Misses are never kept: an attacker sending well-formed tokens nobody issued cannot push real ones out."""
    async with (
        open_redis_store(redis_url, key_prefix=key_prefix, cache=CacheOptions(size=3, lease=LEASE)) as cached,
        open_redis_store(redis_url, key_prefix=key_prefix) as other,
    ):
        cache, validator, token, family_id = await held(cached, other)
        for _ in range(200):
            assert await validator.validate(crypto.new_token()[1]) is None
        assert len(cache) == 1
        await other.redis.delete(f"{cached._keys.prefix}:{{{family_id}}}:a:{crypto.digest(token, 'access')}")
        assert await validator.validate(token) is not None  # still answered from memory
