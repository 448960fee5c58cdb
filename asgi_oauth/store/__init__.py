"""Storage: the :class:`Store` protocol and its two implementations.

:class:`RedisStore` is imported on first use, so the protocol layer (and the memory store) work without
redis-py installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..revocation import CacheOptions
from ..settings import ENV_PREFIX, OAuthSettings, SettingsError
from .base import CoreStore as CoreStore
from .base import KeyStore
from .base import Store as Store
from .base import StoreUnavailable as StoreUnavailable
from .memory import MemoryStore as MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore as RedisStore

__all__ = ["CoreStore", "MemoryStore", "RedisStore", "Store", "StoreUnavailable", "parts_needed", "store_from_settings"]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_from_settings(settings: OAuthSettings) -> Store:
    """The backend ``settings.store`` names; else a :class:`RedisStore` when ``redis_url`` is set; else a
    :class:`MemoryStore` (one process only)."""
    if settings.store:
        return _from_factory(settings.store, settings)
    if settings.redis_url:
        from .redis import RedisStore

        cache = None
        if settings.validation_cache:
            cache = CacheOptions(size=settings.validation_cache_size, lease=settings.validation_cache_lease)
        return RedisStore.from_url(
            settings.redis_url, key_prefix=settings.key_prefix, timeout=settings.redis_timeout, cache=cache
        )
    return MemoryStore()


def _from_factory(path: str, settings: OAuthSettings) -> Store:
    module_name, _, name = path.partition(":")
    where = f"{ENV_PREFIX}STORE={path}"
    try:
        factory = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"{where}: cannot import it ({exc})") from None
    store = factory(settings)
    missing = [part.__name__ for part in (CoreStore, *parts_needed(settings)) if not isinstance(store, part)]
    if missing:
        what = type(store).__name__
        raise SettingsError(f"{where}: the factory returned {what}, which is not a {' nor a '.join(missing)}")
    return store  # type: ignore[no-any-return]  # checked: the parts these settings use


def parts_needed(settings: OAuthSettings) -> tuple[type, ...]:
    """The store Protocols beyond :class:`CoreStore` that ``settings`` switch on (features check their own)."""
    parts: list[type] = []
    if settings.enable_oidc and not settings.oidc_signing_keys:  # keys generated into the store
        parts.append(KeyStore)
    return tuple(parts)
