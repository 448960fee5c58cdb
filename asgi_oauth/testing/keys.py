"""The generated signing-key document (OpenID Connect): a compare-and-set every worker agrees through."""

from __future__ import annotations

import asyncio

from ..store.base import Store


class SigningKeyContract:
    """``get_signing_keys`` / ``swap_signing_keys``: the store keeps an opaque document and swaps it only
    from the version a caller last saw, so concurrent generation or rotation ends with one winner."""

    async def test_no_document_until_one_is_swapped_in(self, store: Store) -> None:
        assert await store.get_signing_keys() is None
        assert await store.swap_signing_keys(None, '{"keys": 1}')
        assert await store.get_signing_keys() == '{"keys": 1}'

    async def test_a_swap_from_a_stale_document_is_refused(self, store: Store) -> None:
        assert await store.swap_signing_keys(None, "first")
        assert not await store.swap_signing_keys(None, "second")
        assert not await store.swap_signing_keys("other", "second")
        assert await store.swap_signing_keys("first", "second")
        assert await store.get_signing_keys() == "second"

    async def test_the_same_swap_run_twice_answers_as_the_first(self, store: Store) -> None:
        # A command resent after its reply was lost must not look like a lost race.
        assert await store.swap_signing_keys(None, "mine")
        assert await store.swap_signing_keys(None, "mine")

    async def test_of_concurrent_first_swaps_exactly_one_wins(self, store: Store) -> None:
        results = await asyncio.gather(*(store.swap_signing_keys(None, f"doc-{i}") for i in range(8)))
        assert sum(results) == 1
        assert await store.get_signing_keys() == f"doc-{results.index(True)}"
