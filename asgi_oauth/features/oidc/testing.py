"""OpenID Connect's store contract: the generated signing-key document, a compare-and-set every worker agrees
through. Subclass :class:`SigningKeyContract` with a ``keys`` fixture giving a fresh, empty :class:`KeyStore`
per test (a backend keeping the document itself gives its store); the memory and Redis parts pass it
(``tests/store/test_oidc_contract.py``)."""

from __future__ import annotations

import asyncio

import pytest

from .store import KeyStore

__all__ = ["SigningKeyContract"]


class SigningKeyContract:
    """``get_signing_keys`` / ``swap_signing_keys``: the store keeps an opaque document and swaps it only
    from the version a caller last saw, so concurrent generation or rotation ends with one winner."""

    pytestmark = pytest.mark.asyncio

    async def test_implements_the_protocol(self, keys: KeyStore) -> None:
        assert isinstance(keys, KeyStore)

    async def test_no_document_until_one_is_swapped_in(self, keys: KeyStore) -> None:
        assert await keys.get_signing_keys() is None
        assert await keys.swap_signing_keys(None, '{"keys": 1}')
        assert await keys.get_signing_keys() == '{"keys": 1}'

    async def test_a_swap_from_a_stale_document_is_refused(self, keys: KeyStore) -> None:
        assert await keys.swap_signing_keys(None, "first")
        assert not await keys.swap_signing_keys(None, "second")
        assert not await keys.swap_signing_keys("other", "second")
        assert await keys.swap_signing_keys("first", "second")
        assert await keys.get_signing_keys() == "second"

    async def test_the_same_swap_run_twice_answers_as_the_first(self, keys: KeyStore) -> None:
        # A command resent after its reply was lost must not look like a lost race.
        assert await keys.swap_signing_keys(None, "mine")
        assert await keys.swap_signing_keys(None, "mine")

    async def test_of_concurrent_first_swaps_exactly_one_wins(self, keys: KeyStore) -> None:
        results = await asyncio.gather(*(keys.swap_signing_keys(None, f"doc-{i}") for i in range(8)))
        assert sum(results) == 1
        assert await keys.get_signing_keys() == f"doc-{results.index(True)}"
