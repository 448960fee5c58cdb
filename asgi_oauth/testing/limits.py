"""Failed-attempt windows and known places, with real time passing."""

from __future__ import annotations

import asyncio
import time

from ..models import Bucket
from ..store.base import Store

PAIR = Bucket("pair:x", limit=3, window=5)


WIDE = Bucket("principal:x", limit=4, window=5, waived_if_known=True)


class LimitContract:
    """The failed-attempt windows behind rate limiting, on both stores, with real time passing.

    Subclass it with a ``store`` fixture giving a fresh, empty store per test (see :mod:`asgi_oauth.testing`).
    """

    async def test_blocked_once_the_limit_is_reached(self, store: Store) -> None:
        for _ in range(2):
            assert await store.record_failure([PAIR], known="known:x") == 0
            assert (await store.check_limits([PAIR], known="known:x")).blocked_for == 0
        blocked = await store.record_failure([PAIR], known="known:x")
        assert 4 < blocked <= 5
        assert 0 < (await store.check_limits([PAIR], known="known:x")).blocked_for <= 5
        # Other buckets are untouched.
        assert (await store.check_limits([Bucket("pair:y", 3, 5)], known="known:x")).blocked_for == 0

    async def test_the_longest_wait_of_several_buckets_answers(self, store: Store) -> None:
        short, long = Bucket("short", 1, 2), Bucket("long", 1, 60)
        assert 50 < await store.record_failure([short, long], known="k") <= 60
        assert 50 < (await store.check_limits([short, long], known="k")).blocked_for <= 60
        assert 0 < (await store.check_limits([short], known="k")).blocked_for <= 2

    async def test_a_full_bucket_is_not_added_to_so_refusals_never_extend_the_block(self, store: Store) -> None:
        bucket = Bucket("pair:full", limit=2, window=0.6)
        await store.record_failure([bucket], known="k")
        await asyncio.sleep(0.3)
        await store.record_failure([bucket], known="k")
        for _ in range(5):  # refused attempts keep arriving
            await store.record_failure([bucket], known="k")
        # The first failure leaves the window 0.6 s after it was made, whatever came later.
        await asyncio.sleep(0.4)
        assert (await store.check_limits([bucket], known="k")).blocked_for == 0

    async def test_failures_slide_out_of_the_window(self, store: Store) -> None:
        bucket = Bucket("address:1", limit=3, window=0.3)
        for _ in range(3):
            await store.record_failure([bucket], known="k")
        assert (await store.check_limits([bucket], known="k")).blocked_for > 0
        await asyncio.sleep(0.4)
        assert (await store.check_limits([bucket], known="k")).blocked_for == 0
        assert await store.record_failure([bucket], known="k") == 0

    async def test_concurrent_failures_are_all_counted(self, store: Store) -> None:
        bucket = Bucket("user:a", limit=25, window=10)
        results = await asyncio.gather(*(store.record_failure([bucket], known="k") for _ in range(30)))
        assert sum(1 for r in results if r == 0) == 24
        assert (await store.check_limits([bucket], known="k")).blocked_for > 0

    async def test_a_known_place_is_not_refused_by_a_full_waivable_bucket(self, store: Store) -> None:
        for _ in range(4):
            await store.record_failure([WIDE], known="known:elsewhere")
        assert (await store.check_limits([WIDE], known="known:here")).blocked_for > 0
        await store.remember_known("known:here", expires_at=time.time() + 5)
        check = await store.check_limits([PAIR, WIDE], known="known:here")
        assert check.known is True
        assert check.blocked_for == 0
        elsewhere = await store.check_limits([WIDE], known="known:elsewhere")
        assert elsewhere.known is False and elsewhere.blocked_for > 0

    async def test_failures_from_a_known_place_count_on_its_pair_only(self, store: Store) -> None:
        await store.remember_known("known:here", expires_at=time.time() + 5)
        for _ in range(2):
            await store.record_failure([WIDE], known="known:elsewhere")
        for _ in range(3):
            await store.record_failure([PAIR, WIDE], known="known:here")
        assert (await store.check_limits([PAIR], known="known:here")).blocked_for > 0
        # Two failures in WIDE, not five: it would be full had the known place's three been added.
        assert (await store.check_limits([WIDE], known="known:elsewhere")).blocked_for == 0
        await store.record_failure([WIDE], known="known:elsewhere")
        assert await store.record_failure([WIDE], known="known:elsewhere") > 0

    async def test_a_known_place_is_forgotten_when_it_expires(self, store: Store) -> None:
        await store.remember_known("known:brief", expires_at=time.time() + 0.3)
        assert (await store.check_limits([WIDE], known="known:brief")).known is True
        await asyncio.sleep(0.4)
        assert (await store.check_limits([WIDE], known="known:brief")).known is False
