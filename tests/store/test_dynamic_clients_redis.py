"""Where dynamic clients live on Redis: under the key prefix, in the clients hash's Cluster slot, and with
only hashed secrets."""

from __future__ import annotations

from redis.crc import key_slot

from asgi_oauth import RedisStore, crypto
from asgi_oauth.testing.clients import dynamic_client


async def test_dynamic_client_keys_carry_the_prefix_and_share_the_hash_slot(
    redis_store: RedisStore, key_prefix: str
) -> None:
    secret = crypto.new_client_secret()
    client = dynamic_client(public=False, secret_hash=crypto.hash_secret(secret, generated=True), secret_for=60)
    assert await redis_store.add_dynamic_client(client, limit=10) == "added"
    keys = {key.decode() async for key in redis_store.redis.scan_iter(match=f"{key_prefix}*", count=1000)}
    assert keys == {
        f"{key_prefix}:clients",
        f"{key_prefix}:{{{key_prefix}:clients}}:dynamic",
        f"{key_prefix}:{{{key_prefix}:clients}}:expiring",
    }
    assert len({key_slot(key.encode()) for key in keys}) == 1
    record = await redis_store.redis.hget(f"{key_prefix}:clients", client.client_id)
    assert record is not None and secret.encode() not in record
