"""The store contract, for anyone writing a storage backend: the same tests the memory and Redis stores pass.

Subclass :class:`StoreContract` (or :class:`CoreStoreContract` plus the parts your backend has) in a test
module and give it a ``store`` fixture that yields a fresh, empty store per test (needs pytest and
pytest-asyncio)::

    import pytest
    from asgi_oauth.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self):
            store = MyStore(...)
            yield store
            await store.aclose()

Time passes for real in some tests (lifetimes of a fraction of a second), so run them against a store whose
clock is the wall clock. :mod:`asgi_oauth.testing.records` builds the records the tests use.
"""

from __future__ import annotations

import pytest

from .clients import DynamicClientContract
from .concurrency import ConcurrencyContract
from .expiry import ExpiryContract
from .keys import SigningKeyContract
from .limits import LimitContract
from .owners import OwnerContract
from .tokens import TokenContract

__all__ = [
    "ConcurrencyContract",
    "CoreStoreContract",
    "DynamicClientContract",
    "ExpiryContract",
    "LimitContract",
    "OwnerContract",
    "SigningKeyContract",
    "StoreContract",
    "TokenContract",
]


class CoreStoreContract(
    TokenContract,
    LimitContract,
    ConcurrencyContract,
    ExpiryContract,
    DynamicClientContract,
    OwnerContract,
):
    """Every part of :class:`~asgi_oauth.store.CoreStore`: what a backend needs for a server with generated OpenID
    keys and every feature off. Add :class:`SigningKeyContract` when it keeps generated keys, and a feature's own
    contract (``asgi_oauth.features.<name>.testing``) for each feature it keeps the data of."""

    pytestmark = pytest.mark.asyncio


class StoreContract(CoreStoreContract, SigningKeyContract):
    """Every part of :class:`~asgi_oauth.store.Store`, checked."""

    pytestmark = pytest.mark.asyncio
