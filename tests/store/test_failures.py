"""The failed-attempt window behind rate limiting, on both stores, with real time passing."""

from __future__ import annotations

import asyncio

from asgi_oauth.store import Store


async def test_blocked_once_the_limit_is_reached(store: Store) -> None:
    for _ in range(2):
        assert await store.record_failure("client:x", window=5, limit=3) == 0
        assert await store.blocked_for("client:x", window=5, limit=3) == 0
    blocked = await store.record_failure("client:x", window=5, limit=3)
    assert 4 < blocked <= 5
    assert 0 < await store.blocked_for("client:x", window=5, limit=3) <= 5
    # Other keys are untouched.
    assert await store.blocked_for("client:y", window=5, limit=3) == 0


async def test_failures_slide_out_of_the_window(store: Store) -> None:
    for _ in range(3):
        await store.record_failure("peer:1", window=0.3, limit=3)
    assert await store.blocked_for("peer:1", window=0.3, limit=3) > 0
    await asyncio.sleep(0.4)
    assert await store.blocked_for("peer:1", window=0.3, limit=3) == 0
    assert await store.record_failure("peer:1", window=0.3, limit=3) == 0


async def test_concurrent_failures_are_all_counted(store: Store) -> None:
    results = await asyncio.gather(*(store.record_failure("user:a", window=10, limit=25) for _ in range(30)))
    assert sum(1 for r in results if r == 0) == 24
    assert await store.blocked_for("user:a", window=10, limit=25) > 0
