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
from .exchanged import ExchangeContract
from .expiry import ExpiryContract
from .limits import LimitContract
from .owners import OwnerContract
from .tokens import TokenContract

__all__ = [
    "ConcurrencyContract",
    "CoreStoreContract",
    "DynamicClientContract",
    "ExchangeContract",
    "ExpiryContract",
    "LimitContract",
    "OwnerContract",
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
    ExchangeContract,
):
    """Every part of :class:`~asgi_oauth.store.CoreStore`: what a backend needs for a server with every feature
    off. Add a feature's own contract (``asgi_oauth.features.<name>.testing``) for each feature whose data the
    backend keeps itself."""

    pytestmark = pytest.mark.asyncio


#: The name the contract had before features kept their own parts: the same suite.
StoreContract = CoreStoreContract
