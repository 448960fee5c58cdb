"""A store that cannot be reached: every device grant step answers 503, never a 500 and never a pass."""

from __future__ import annotations

from asgi_oauth import RedisStore

from .helpers import device_app


async def test_every_step_answers_503_while_the_store_is_down(unreachable_store: RedisStore) -> None:
    async with device_app(unreachable_store, declared=True) as device:
        started = await device.authorize()
        assert started.status_code == 503 and started.json()["error"] == "temporarily_unavailable"
        polled = await device.poll(f"{'A' * 22}.{'b' * 43}")
        assert polled.status_code == 503 and polled.json()["error"] == "temporarily_unavailable"
        page = await device.page("BCDF-GHJK")
        assert page.status_code == 503 and "temporarily unavailable" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        form = await device.page(None)  # the empty form needs no store
        assert form.status_code == 200
