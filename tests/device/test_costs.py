"""Store round trips of the device grant, counted on the wire as tests/test_costs.py counts them: starting a
device authorization 2, a pending poll 1, the poll that issues 2; the same on both ways to talk to Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from asgi_oauth import RedisStore

from ..test_costs import CountingConnection, Trips, counting_pipeline  # noqa: F401 (the fixture)
from .helpers import Device, device_app


async def counted(call: Any) -> tuple[httpx.Response, int]:
    before = Trips.counts.total()
    response = await call
    return response, Trips.counts.total() - before


@pytest.fixture(params=["pipelined", "redis-py"])
async def device(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> AsyncIterator[Device]:
    request.getfixturevalue("counting_pipeline")
    options = {"connection_class": CountingConnection} if request.param == "redis-py" else {}
    pool = aioredis.ConnectionPool.from_url(redis_url, **options)
    store = RedisStore(aioredis.Redis(connection_pool=pool), key_prefix=key_prefix)
    async with device_app(store, device={"poll_interval": 30}) as app:
        warm = (await app.authorize()).json()  # connections made, scripts loaded, the client cached
        await app.poll(warm["device_code"])
        await app.approve(warm["user_code"])
        await app.poll(warm["device_code"])
        yield app
    await store.aclose()
    await pool.aclose()


async def test_device_round_trips(device: Device) -> None:
    started, trips = await counted(device.authorize())
    assert started.status_code == 200 and trips == 2  # the user code index, then the record
    body = started.json()
    pending, trips = await counted(device.poll(body["device_code"]))
    assert pending.json()["error"] == "authorization_pending" and trips == 1
    slow, trips = await counted(device.poll(body["device_code"]))
    assert slow.json()["error"] == "slow_down" and trips == 1
    await device.approve(body["user_code"])
    issued, trips = await counted(device.poll(body["device_code"]))
    assert issued.status_code == 200 and trips == 2  # the poll, then the redemption
