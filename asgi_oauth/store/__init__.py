"""Storage: the :class:`Store` protocol and its two implementations."""

from __future__ import annotations

from .base import Store as Store
from .base import StoreUnavailable as StoreUnavailable
from .memory import MemoryStore as MemoryStore
from .redis import RedisStore as RedisStore

__all__ = ["MemoryStore", "RedisStore", "Store", "StoreUnavailable"]
