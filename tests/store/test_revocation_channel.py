"""Every write that ends a token's or a client's life announces it on ``<prefix>:revoked`` inside the same Lua
script, so a worker that caches tokens cannot miss a revocation that committed. Observed
with a real subscriber on a real Redis; the announcement and the deletion are one script, so a subscriber sees
the message only for a write that happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from asgi_oauth.models import Outcome
from asgi_oauth.store import RedisStore
from asgi_oauth.store.records import access_name
from asgi_oauth.testing.records import Grant, access_record, client_record, code_record, family_record, redeem

from ..conftest import open_redis_store


@pytest.fixture
async def listening(redis_url: str, key_prefix: str) -> AsyncIterator[tuple[RedisStore, aioredis.client.PubSub]]:
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{key_prefix}:revoked")
    await pubsub.get_message(timeout=1)  # the subscription's confirmation
    try:
        async with open_redis_store(redis_url, key_prefix=key_prefix) as store:
            yield store, pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def announced(pubsub: aioredis.client.PubSub) -> list[str]:
    """What was announced so far (bounded wait: the messages of writes that already returned)."""
    seen: list[str] = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
        seen.append(message["data"].decode())
    return seen


async def test_revoking_a_family_announces_it(listening: tuple[RedisStore, aioredis.client.PubSub]) -> None:
    store, pubsub = listening
    grant = Grant.mint()
    await store.put_family(grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record())
    assert await store.revoke_family(grant.family_id, client_id="someone-else") is False  # refused: nothing said
    assert await store.revoke_family(grant.family_id) is True
    assert await announced(pubsub) == [f"family:{grant.family_id}"]


async def test_refresh_reuse_and_code_replay_announce_the_family_they_revoke(
    listening: tuple[RedisStore, aioredis.client.PubSub],
) -> None:
    store, pubsub = listening
    reused = Grant.mint()
    await store.put_family(
        reused.family_id, family_record(reused.refresh_digest), reused.access_digest, access_record()
    )
    stale = family_record(reused.next_refresh()[1])
    assert await store.rotate_refresh(reused.family_id, "x" * 32, stale, "y" * 32, access_record()) is Outcome.REUSED
    replayed = Grant.mint()
    await store.put_code(replayed.family_id, replayed.code_digest, code_record())
    assert await redeem(store, replayed) is Outcome.DONE
    assert await redeem(store, replayed, access_digest=replayed.next_access()[1]) is Outcome.REUSED
    assert await announced(pubsub) == [f"family:{reused.family_id}", f"family:{replayed.family_id}"]


async def test_revoking_an_access_token_and_deleting_a_client_are_announced(
    listening: tuple[RedisStore, aioredis.client.PubSub],
) -> None:
    store, pubsub = listening
    grant = Grant.mint()
    await store.put_access(grant.family_id, grant.access_digest, access_record())
    assert await store.revoke_access(grant.family_id, grant.access_digest, client_id="app") is True
    await store.create_client(client_record("gone"))
    assert await store.delete_client("gone") is True
    assert await store.delete_client("never-was") is False
    await asyncio.sleep(0)
    assert await announced(pubsub) == [f"access:{grant.family_id}:{access_name(grant.access_digest)}", "client:gone"]
