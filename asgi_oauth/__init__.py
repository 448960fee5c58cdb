"""asgi_oauth: an OAuth 2.0 authorization server to mount into any Starlette or FastAPI app.

The public API, by audience: app developers import from here (``__all__``), and from :mod:`asgi_oauth.mcp`
(MCP servers on the ``mcp`` SDK, the ``mcp`` extra) and :mod:`asgi_oauth.mcp.fastmcp` (the FastMCP auth
provider, the ``fastmcp`` extra); whoever writes a feature (a grant, an endpoint, a protocol) imports from
:mod:`asgi_oauth.features`; whoever writes a storage backend from :mod:`asgi_oauth.store` and
:mod:`asgi_oauth.testing` (the store contract, needs pytest). Examples and the documentation import only from these;
the modules behind them are internal and may change between releases.

Public names are imported on first use (PEP 562), so ``import asgi_oauth.protocol`` and the memory
store need neither Starlette nor redis-py: only the parts you touch load their dependencies.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from . import extras as _extras

# Private aliases: every public-looking name in this module must be in __all__ (tests/test_exported_members.py).
if _typing.TYPE_CHECKING:
    from .cimd.documents import DocumentError as DocumentError
    from .cimd.documents import Fetched as Fetched
    from .cimd.documents import Fetcher as Fetcher
    from .clients import ClientError as ClientError
    from .clients import new_client as new_client
    from .clients import register_client as register_client
    from .discovery import discovery_routes as discovery_routes
    from .discovery import publish_discovery as publish_discovery
    from .errors import AccessDenied as AccessDenied
    from .errors import InvalidClient as InvalidClient
    from .errors import InvalidGrant as InvalidGrant
    from .errors import InvalidRequest as InvalidRequest
    from .errors import InvalidScope as InvalidScope
    from .errors import OAuthError as OAuthError
    from .errors import ServerError as ServerError
    from .errors import TemporarilyUnavailable as TemporarilyUnavailable
    from .errors import TooManyAttempts as TooManyAttempts
    from .errors import UnauthorizedClient as UnauthorizedClient
    from .errors import UnsupportedGrantType as UnsupportedGrantType
    from .errors import UnsupportedResponseType as UnsupportedResponseType
    from .features.device import DEVICE_CODE_GRANT as DEVICE_CODE_GRANT
    from .features.device import DeviceAuthorization as DeviceAuthorization
    from .features.device import DeviceRenderer as DeviceRenderer
    from .features.device import DeviceSettings as DeviceSettings
    from .features.device import DeviceView as DeviceView
    from .features.device import default_device_page as default_device_page
    from .features.oidc import OIDCSettings as OIDCSettings
    from .features.oidc import OpenIDConnect as OpenIDConnect
    from .features.oidc import UserClaims as UserClaims
    from .features.oidc.keys import KeyRing as KeyRing
    from .features.oidc.keys import SigningKey as SigningKey
    from .features.registration import DynamicRegistration as DynamicRegistration
    from .features.registration.protocol import InvalidClientMetadata as InvalidClientMetadata
    from .features.registration.protocol import InvalidRedirectUri as InvalidRedirectUri
    from .jwks import JWKSValidator as JWKSValidator
    from .known_devices import KnownDevices as KnownDevices
    from .middleware import BearerAuthBackend as BearerAuthBackend
    from .middleware import BearerTokenMiddleware as BearerTokenMiddleware
    from .middleware import LocalValidator as LocalValidator
    from .middleware import Rule as Rule
    from .middleware import TokenUser as TokenUser
    from .middleware import TokenValidator as TokenValidator
    from .middleware import ValidationUnavailable as ValidationUnavailable
    from .middleware import bearer_refusal as bearer_refusal
    from .middleware import protect as protect
    from .middleware import requires_scopes as requires_scopes
    from .models import AccessToken as AccessToken
    from .models import Client as Client
    from .models import User as User
    from .operations.events import Event as Event
    from .operations.events import EventHook as EventHook
    from .operations.events import json_lines as json_lines
    from .protocol.context import PasswordVerifier as PasswordVerifier
    from .protocol.ratelimit import Attempt as Attempt
    from .protocol.ratelimit import Limiter as Limiter
    from .protocol.resources import canonical_resource as canonical_resource
    from .remote import RemoteValidator as RemoteValidator
    from .settings import OAuthSettings as OAuthSettings
    from .settings import SettingsError as SettingsError
    from .settings import load_settings as load_settings
    from .store import MemoryStore as MemoryStore
    from .store import RedisStore as RedisStore
    from .store import Store as Store
    from .store import StoreUnavailable as StoreUnavailable
    from .store import store_from_settings as store_from_settings
    from .web.app import OAuthServer as OAuthServer
    from .web.authorize import UserResolver as UserResolver
    from .web.pages import ConsentRenderer as ConsentRenderer
    from .web.pages import ConsentView as ConsentView
    from .web.pages import ErrorRenderer as ErrorRenderer
    from .web.pages import ScopeLine as ScopeLine
    from .web.pages import default_consent_page as default_consent_page
    from .web.pages import default_error_page as default_error_page
    from .web.signin import HostSignIn as HostSignIn
    from .web.signin import OpenIDSignIn as OpenIDSignIn
    from .web.signin import PasswordSignIn as PasswordSignIn
    from .web.signin import SignIn as SignIn
    from .web.signin import SignInHook as SignInHook

#: The modules behind public names that need an extra (pip install 'asgi-oauth[...]').
_NEEDS_EXTRAS = {".jwks": ("oidc", "remote"), ".features.oidc.keys": ("oidc",), ".remote": ("remote",)}

#: Where each public name lives; the TYPE_CHECKING block above must list the same names.
_SOURCES = {
    "AccessDenied": ".errors",
    "AccessToken": ".models",
    "Attempt": ".protocol.ratelimit",
    "BearerAuthBackend": ".middleware",
    "BearerTokenMiddleware": ".middleware",
    "Client": ".models",
    "ClientError": ".clients",
    "ConsentRenderer": ".web.pages",
    "ConsentView": ".web.pages",
    "DEVICE_CODE_GRANT": ".features.device",
    "DeviceAuthorization": ".features.device",
    "DeviceRenderer": ".features.device",
    "DeviceSettings": ".features.device",
    "DeviceView": ".features.device",
    "DynamicRegistration": ".features.registration",
    "DocumentError": ".cimd.documents",
    "Event": ".operations.events",
    "EventHook": ".operations.events",
    "json_lines": ".operations.events",
    "ErrorRenderer": ".web.pages",
    "Fetched": ".cimd.documents",
    "Fetcher": ".cimd.documents",
    "InvalidClient": ".errors",
    "InvalidClientMetadata": ".features.registration.protocol",
    "InvalidGrant": ".errors",
    "InvalidRedirectUri": ".features.registration.protocol",
    "InvalidRequest": ".errors",
    "InvalidScope": ".errors",
    "JWKSValidator": ".jwks",
    "KeyRing": ".features.oidc.keys",
    "KnownDevices": ".known_devices",
    "Limiter": ".protocol.ratelimit",
    "LocalValidator": ".middleware",
    "MemoryStore": ".store",
    "OAuthError": ".errors",
    "OAuthServer": ".web.app",
    "OAuthSettings": ".settings",
    "OIDCSettings": ".features.oidc",
    "OpenIDConnect": ".features.oidc",
    "PasswordVerifier": ".protocol.context",
    "HostSignIn": ".web.signin",
    "OpenIDSignIn": ".web.signin",
    "PasswordSignIn": ".web.signin",
    "SignIn": ".web.signin",
    "SignInHook": ".web.signin",
    "RedisStore": ".store",
    "RemoteValidator": ".remote",
    "Rule": ".middleware",
    "ScopeLine": ".web.pages",
    "ServerError": ".errors",
    "SettingsError": ".settings",
    "SigningKey": ".features.oidc.keys",
    "Store": ".store",
    "StoreUnavailable": ".store",
    "TemporarilyUnavailable": ".errors",
    "TokenUser": ".middleware",
    "TokenValidator": ".middleware",
    "TooManyAttempts": ".errors",
    "UnauthorizedClient": ".errors",
    "UnsupportedGrantType": ".errors",
    "UnsupportedResponseType": ".errors",
    "User": ".models",
    "UserClaims": ".features.oidc",
    "UserResolver": ".web.authorize",
    "ValidationUnavailable": ".middleware",
    "bearer_refusal": ".middleware",
    "canonical_resource": ".protocol.resources",
    "default_consent_page": ".web.pages",
    "default_device_page": ".features.device",
    "default_error_page": ".web.pages",
    "discovery_routes": ".discovery",
    "load_settings": ".settings",
    "new_client": ".clients",
    "protect": ".middleware",
    "publish_discovery": ".discovery",
    "register_client": ".clients",
    "requires_scopes": ".middleware",
    "store_from_settings": ".store",
}

__all__ = [
    "DEVICE_CODE_GRANT",
    "AccessDenied",
    "AccessToken",
    "Attempt",
    "BearerAuthBackend",
    "BearerTokenMiddleware",
    "Client",
    "ClientError",
    "ConsentRenderer",
    "ConsentView",
    "DeviceAuthorization",
    "DeviceRenderer",
    "DeviceSettings",
    "DeviceView",
    "DocumentError",
    "DynamicRegistration",
    "ErrorRenderer",
    "Event",
    "EventHook",
    "Fetched",
    "Fetcher",
    "HostSignIn",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "JWKSValidator",
    "KeyRing",
    "KnownDevices",
    "Limiter",
    "LocalValidator",
    "MemoryStore",
    "OAuthError",
    "OAuthServer",
    "OAuthSettings",
    "OIDCSettings",
    "OpenIDConnect",
    "OpenIDSignIn",
    "PasswordSignIn",
    "PasswordVerifier",
    "RedisStore",
    "RemoteValidator",
    "Rule",
    "ScopeLine",
    "ServerError",
    "SettingsError",
    "SignIn",
    "SignInHook",
    "SigningKey",
    "Store",
    "StoreUnavailable",
    "TemporarilyUnavailable",
    "TokenUser",
    "TokenValidator",
    "TooManyAttempts",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "User",
    "UserClaims",
    "UserResolver",
    "ValidationUnavailable",
    "bearer_refusal",
    "canonical_resource",
    "default_consent_page",
    "default_device_page",
    "default_error_page",
    "discovery_routes",
    "json_lines",
    "load_settings",
    "new_client",
    "protect",
    "publish_discovery",
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
        try:
            value = getattr(_importlib.import_module(source, __name__), name)
        except ModuleNotFoundError as exc:
            # A name whose module needs an extra still imports (``import *``, ``hasattr``); it says what to
            # install when it is used. Any other missing module is a broken install and fails as it is.
            extras = _NEEDS_EXTRAS.get(source, ())
            error = _extras.missing(name, *extras) if extras else None
            if error is None or _extras.extra_of((exc.name or "").partition(".")[0]) not in extras:
                raise
            value = _extras.placeholder(name, error)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
