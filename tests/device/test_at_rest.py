"""What the device grant leaves in Redis: neither the device code nor the user code, in any form a person types."""

from __future__ import annotations

from asgi_oauth import RedisStore

from ..web.test_at_rest import dump
from .helpers import device_app


async def test_a_redis_dump_holds_no_device_or_user_code(redis_store: RedisStore, key_prefix: str) -> None:
    async with device_app(redis_store) as device:
        pending = (await device.authorize()).json()
        approved = (await device.authorize()).json()
        await device.approve(approved["user_code"])
        tokens = (await device.poll(approved["device_code"])).json()
        data = await dump(redis_store, key_prefix)

    assert data.count(b":d:") == 2 and data.count(b":usercode:") == 2  # the dump is real
    for started in (pending, approved):
        assert started["device_code"].partition(".")[2].encode() not in data
        shown = started["user_code"]
        for form in (shown, shown.replace("-", ""), shown.lower(), shown.replace("-", "").lower()):
            assert form.encode() not in data
    assert tokens["access_token"].partition(".")[2].encode() not in data
