"""Storage: the :class:`Store` protocol and its two implementations."""

from __future__ import annotations

from ..settings import OAuthSettings
from .base import Store as Store
from .base import StoreUnavailable as StoreUnavailable
from .memory import MemoryStore as MemoryStore
from .redis import RedisStore as RedisStore

__all__ = ["MemoryStore", "RedisStore", "Store", "StoreUnavailable", "store_from_settings"]


def store_from_settings(settings: OAuthSettings) -> Store:
    """A :class:`RedisStore` when ``redis_url`` is set, else a :class:`MemoryStore` (one process only)."""
    if settings.redis_url:
        return RedisStore.from_url(settings.redis_url, key_prefix=settings.key_prefix, timeout=settings.redis_timeout)
    return MemoryStore()
