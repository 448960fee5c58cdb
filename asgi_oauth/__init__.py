"""asgi_oauth: an OAuth 2.0 authorization server to mount into any Starlette or FastAPI app."""

from __future__ import annotations

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
