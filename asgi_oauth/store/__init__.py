"""Storage, and the module for whoever writes a storage backend: the :class:`CoreStore` protocols, the records
they keep and the answers they give, and the two implementations (with :mod:`asgi_oauth.testing`, the contract).

:class:`RedisStore` is imported on first use, so the protocol layer (and the memory store) work without
redis-py installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..models import AccessToken as AccessToken
from ..models import AuthorizationCode as AuthorizationCode
from ..models import Bucket as Bucket
from ..models import Client as Client
from ..models import CodeReplayed as CodeReplayed
from ..models import LimitCheck as LimitCheck
from ..models import Outcome as Outcome
from ..models import TokenFamily as TokenFamily
from ..models import TokenLookup as TokenLookup
from ..settings import ENV_PREFIX, OAuthSettings, SettingsError
from ..validation_cache import CacheOptions
from .base import AddOutcome as AddOutcome
from .base import ClientStore as ClientStore
from .base import ConsentStore as ConsentStore
from .base import CoreStore as CoreStore
from .base import LimitStore as LimitStore
from .base import Store as Store
from .base import StoreUnavailable as StoreUnavailable
from .base import TokenStore as TokenStore
from .memory import MemoryStore as MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore as RedisStore

__all__ = [
    "AccessToken",
    "AddOutcome",
    "AuthorizationCode",
    "Bucket",
    "Client",
    "ClientStore",
    "CodeReplayed",
    "ConsentStore",
    "CoreStore",
    "LimitCheck",
    "LimitStore",
    "MemoryStore",
    "Outcome",
    "RedisStore",
    "Store",
    "StoreUnavailable",
    "TokenFamily",
    "TokenLookup",
    "TokenStore",
    "store_from_settings",
]


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
    if not isinstance(store, CoreStore):
        raise SettingsError(f"{where}: the factory returned {type(store).__name__}, which is not a CoreStore")
    return store
