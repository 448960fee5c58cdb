"""A revocation answered is on the replicas (:mod:`asgi_oauth.store.replicas`): a primary that dies right after
answering cannot take it along, so the promoted replica does not bring the token back.

A primary and a replica whose replication link runs through a proxy that delivers the primary's stream late,
so without waiting the replica is sure to lag behind the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from asgi_oauth.store import RedisStore, StoreUnavailable
from asgi_oauth.store.replicas import marker_key, online_replicas
from asgi_oauth.testing.records import Grant, access_record, family_record

from ..conftest import open_redis_store
from ..proxy import DelayingProxy, proxy_thread
from ..reliability.stack import RedisProcess, redis_server

#: How late the replica hears of every write: far longer than killing the primary takes after an answer.
LAG = 0.3


@contextmanager
def primary_and_replica(tmp_path: Path, lag: float = LAG) -> Iterator[tuple[RedisProcess, RedisProcess]]:
    with (
        # (A replica's first sync starts at once, not after the default five seconds' wait for others.)
        redis_server(tmp_path / "primary", "--repl-diskless-sync-delay", "0") as primary,
        proxy_thread(DelayingProxy(primary.port, lag)) as link,
        redis_server(tmp_path / "replica") as replica,
    ):
        with redis.Redis(port=replica.port, socket_timeout=5) as r:
            r.execute_command("REPLICAOF", "127.0.0.1", link.port)
        deadline = time.monotonic() + 20
        with redis.Redis(port=primary.port, socket_timeout=5) as p:
            while p.info("replication").get("slave0", {}).get("state") != "online":
                assert time.monotonic() < deadline, "the replica never came online"
                time.sleep(0.05)
        yield primary, replica


async def stored_family(store: RedisStore) -> Grant:
    grant = Grant.mint()
    await store.put_family(grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record())
    return grant


def promote(replica: RedisProcess) -> None:
    with redis.Redis(port=replica.port, socket_timeout=5) as r:
        r.execute_command("REPLICAOF", "NO", "ONE")


async def test_an_answered_revocation_is_on_the_replica_when_the_primary_dies(tmp_path: Path, key_prefix: str) -> None:
    with primary_and_replica(tmp_path) as (primary, replica):
        async with open_redis_store(primary.url, key_prefix=key_prefix) as store:
            grant = await stored_family(store)
            await asyncio.sleep(LAG * 2)  # the replica has the family
            assert await store.revoke_family(grant.family_id)
            primary.kill()  # at once: what the replica has not acknowledged is lost
        promote(replica)
        async with open_redis_store(replica.url, key_prefix=key_prefix) as promoted:
            found = await promoted.lookup(grant.family_id, access_digest=grant.access_digest)
            assert found.family is None and found.access is None


async def test_a_revocation_the_replica_cannot_acknowledge_in_time_answers_unavailable(
    tmp_path: Path, key_prefix: str
) -> None:
    """A frozen replica: the revocation happened on the primary but cannot be promised to survive a failover,
    so the caller hears 503 (asking again is harmless), within the store's timeout."""
    with primary_and_replica(tmp_path) as (primary, replica):
        async with open_redis_store(primary.url, key_prefix=key_prefix, timeout=0.5) as store:
            grant = await stored_family(store)
            replica.freeze()
            try:
                started = time.monotonic()
                with pytest.raises(StoreUnavailable, match="replicas acknowledged"):
                    await store.revoke_family(grant.family_id)
                assert time.monotonic() - started < 2.0
            finally:
                replica.thaw()
            assert (await store.lookup(grant.family_id)).family is None  # done on the primary all the same
            assert not await store.revoke_family(grant.family_id)  # asked again: nothing left, and answered


async def test_without_replicas_a_revocation_waits_for_nothing(redis_url: str, key_prefix: str) -> None:
    async with open_redis_store(redis_url, key_prefix=key_prefix) as store:
        grant = await stored_family(store)
        assert await store.revoke_family(grant.family_id)


@pytest.mark.parametrize(
    ("key", "marker"),
    [
        ("p:{F1}:f", "p:{F1}:settled"),
        ("p:{F1}:a:digest", "p:{F1}:settled"),
        ("p:clients", "p:{p:clients}:settled"),
        ("p:{u:abc}:g", "p:{u:abc}:settled"),
    ],
)
def test_the_marker_is_in_the_revoked_keys_slot(key: str, marker: str) -> None:
    assert marker_key(key) == marker
    assert key_slot(marker.encode()) == key_slot(key.encode())


def test_online_replicas_are_counted_from_info_replication() -> None:
    info = (
        b"# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
        b"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n"
        b"slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\nmaster_repl_offset:42\r\n"
    )
    assert online_replicas(info) == 1
    assert online_replicas(b"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n") == 0
