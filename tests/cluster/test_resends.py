"""A command sent twice must answer as if sent once, wherever the store may send one again.

redis-py sends a command again after a lost connection, whatever it is (its Cluster and Sentinel clients do for
every command the store runs there); the store's own connection does so for the commands it marks as safe.
Redis may have run the first copy before the connection went, so a second run that answers differently would
turn a store fault into a wrong answer to the client (a "form already used", a slow_down never earned, a code
"replayed"): a 4xx that says the request was wrong. Here every such command really runs twice, on a real
Cluster, through Sentinel and on one server, under every flow of the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from asgi_oauth.features.device.redis import RedisDevices
from asgi_oauth.features.device.testing import device_record, user_code_digest
from asgi_oauth.store import RedisStore
from asgi_oauth.store.pipeline import PipelinedRedis
from asgi_oauth.testing.records import CLIENT_ID, Grant

from ..conftest import open_redis_store
from .flows import full_flow, running_app

#: Which method each deployment's store sends again after a lost connection.
RESENT: dict[str, tuple[type[Any], str]] = {
    "cluster": (RedisCluster, "execute_command"),
    "sentinel": (aioredis.Redis, "execute_command"),
    "redis": (PipelinedRedis, "execute"),
}


@pytest.fixture(params=sorted(RESENT))
def deployment(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


@pytest.fixture
async def twice(deployment: str, request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[RedisStore]:
    """A store on ``deployment`` whose every resendable command runs twice, the second answer the one returned."""
    url: str = request.getfixturevalue(f"redis_{deployment}_url" if deployment != "redis" else "redis_url")
    owner, name = RESENT[deployment]
    send: Callable[..., Any] = getattr(owner, name)
    counted = {"twice": 0}

    async def again(self: Any, *args: Any, **options: Any) -> Any:
        await send(self, *args, **options)  # the run whose reply was lost
        counted["twice"] += 1
        return await send(self, *args, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, name, again)
        async with open_redis_store(url, key_prefix=key_prefix) as store:
            yield store
    assert counted["twice"] > 0


async def test_every_flow_answers_as_if_each_command_ran_once(twice: RedisStore) -> None:
    """Consent forms, code exchange and replay, refresh rotation and reuse, introspection, revocation."""
    async with running_app(twice, rate_limit_failures=0) as app:
        await full_flow(app)


async def test_a_device_poll_sent_twice_is_one_poll(twice: RedisStore) -> None:
    grant, record, devices = Grant.mint(), device_record(), RedisDevices(twice.parts())
    assert await devices.put_device(
        grant.family_id, grant.code_digest, user_code_digest(), record, keep_until=record.exp
    )
    polled = await devices.poll_device(grant.family_id, grant.code_digest, client_id=CLIENT_ID, step=5, leeway=0.5)
    assert polled is not None and polled.too_soon is False and polled.grant.interval == 5
