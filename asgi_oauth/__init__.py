"""asgi_oauth: an OAuth 2.0 authorization server to mount into any Starlette or FastAPI app.

Public names are imported on first use (PEP 562), so ``import asgi_oauth.protocol`` and the memory
store need neither Starlette nor redis-py: only the parts you touch load their dependencies.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

# Private aliases: every public-looking name in this module must be in __all__ (tests/test_exported_members.py).
if _typing.TYPE_CHECKING:
    from .clients import ClientError as ClientError
    from .clients import new_client as new_client
    from .clients import register_client as register_client
    from .devices import KnownDevices as KnownDevices
    from .errors import OAuthError as OAuthError
    from .errors import TooManyAttempts as TooManyAttempts
    from .middleware import BearerAuthBackend as BearerAuthBackend
    from .middleware import BearerTokenMiddleware as BearerTokenMiddleware
    from .middleware import LocalValidator as LocalValidator
    from .middleware import Rule as Rule
    from .middleware import protect as protect
    from .middleware import requires_scopes as requires_scopes
    from .models import Client as Client
    from .models import User as User
    from .protocol.ratelimit import Attempt as Attempt
    from .protocol.ratelimit import Limiter as Limiter
    from .settings import OAuthSettings as OAuthSettings
    from .settings import SettingsError as SettingsError
    from .settings import load_settings as load_settings
    from .store import MemoryStore as MemoryStore
    from .store import RedisStore as RedisStore
    from .store import Store as Store
    from .store import StoreUnavailable as StoreUnavailable
    from .store import store_from_settings as store_from_settings
    from .web.app import OAuthServer as OAuthServer

#: Where each public name lives; the TYPE_CHECKING block above must list the same names.
_SOURCES = {
    "Attempt": ".protocol.ratelimit",
    "BearerAuthBackend": ".middleware",
    "BearerTokenMiddleware": ".middleware",
    "Client": ".models",
    "ClientError": ".clients",
    "KnownDevices": ".devices",
    "Limiter": ".protocol.ratelimit",
    "LocalValidator": ".middleware",
    "MemoryStore": ".store",
    "OAuthError": ".errors",
    "OAuthServer": ".web.app",
    "OAuthSettings": ".settings",
    "RedisStore": ".store",
    "Rule": ".middleware",
    "SettingsError": ".settings",
    "Store": ".store",
    "StoreUnavailable": ".store",
    "TooManyAttempts": ".errors",
    "User": ".models",
    "load_settings": ".settings",
    "new_client": ".clients",
    "protect": ".middleware",
    "register_client": ".clients",
    "requires_scopes": ".middleware",
    "store_from_settings": ".store",
}

__all__ = [
    "Attempt",
    "BearerAuthBackend",
    "BearerTokenMiddleware",
    "Client",
    "ClientError",
    "KnownDevices",
    "Limiter",
    "LocalValidator",
    "MemoryStore",
    "OAuthError",
    "OAuthServer",
    "OAuthSettings",
    "RedisStore",
    "Rule",
    "SettingsError",
    "Store",
    "StoreUnavailable",
    "TooManyAttempts",
    "User",
    "load_settings",
    "new_client",
    "protect",
    "register_client",
    "requires_scopes",
    "store_from_settings",
]


# Hidden from type checkers, which see the imports above, so a misspelt name still fails type checking.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        source = _SOURCES.get(name)
        if source is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_importlib.import_module(source, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
