"""Features: the unit of extension. Read this module first when adding a protocol to the server.

A feature is one package under ``asgi_oauth/features/`` (or anywhere: a third party's works the same way)
holding a protocol's code, endpoints, store part and settings section. It subclasses :class:`Feature`
and overrides only the hooks it needs; each hook below says when the server calls it. A feature is
switched on by passing it, ``OAuthServer(features=[PushedAuthorizationRequests()])``, or by naming it in
``ASGI_OAUTH_FEATURES`` (``par``); :data:`BUILTIN` is the only place the core names the built-in ones.
``features/par`` is the worked example (README, "Extending").

Hooks, in the order a request meets them:

- :meth:`Feature.endpoints`: the paths it serves (:class:`EndpointSpec`, back channel or any ASGI app).
- :meth:`Feature.grants`: grant types it adds at ``/token`` (:class:`GrantSpec`), listed in the metadata.
- :meth:`Feature.authorization_params`: an authorization request's parameters, before the core validates
  them (PAR swaps a ``request_uri`` for the pushed parameters here).
- :meth:`Feature.authorization_done`: an authorization request about to be answered (code or denial).
- :meth:`Feature.token_extra` and :meth:`Feature.token_fields`: data stored with issued tokens (in the
  records' ``extra``) and fields added to the token response.
- :meth:`Feature.introspection_fields`: fields added to an active token's introspection answer.
- :meth:`Feature.client_auth_methods`: more ways for a client to authenticate.
- :meth:`Feature.metadata`: keys of the RFC 8414 document.

At start-up, :meth:`Feature.attach` gives the feature the server, and :meth:`Feature.store_part` picks the
object that keeps its data, which must satisfy the feature's :attr:`Feature.store` Protocol: the server
checks that, and only that, for each switched-on feature.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import OAuthError
from ..models import AccessToken, Client, TokenFamily, User
from ..protocol.authorize import AuthorizationRequest, ErrorPage, ResponseTypeSpec, validate
from ..protocol.client_auth import authenticate
from ..protocol.context import Context
from ..protocol.grants import GrantSpec, TokenResponse
from ..protocol.params import Incoming, Params
from ..settings import ENV_PREFIX, OAuthSettings, SettingsError
from ..web.endpoints import EndpointRequest, EndpointResponse, EndpointSpec

if TYPE_CHECKING:
    from ..web.app import OAuthServer

__all__ = [
    "BUILTIN",
    "AuthorizationInput",
    "AuthorizationRequest",
    "ClientAuthMethod",
    "Context",
    "EndpointRequest",
    "EndpointResponse",
    "EndpointSpec",
    "ErrorPage",
    "Feature",
    "GrantSpec",
    "Incoming",
    "OAuthError",
    "Params",
    "ResponseTypeSpec",
    "TokenResponse",
    "authenticate",
    "load_features",
    "store_of",
    "validate",
]

#: The built-in features by the name ``ASGI_OAUTH_FEATURES`` uses: ``module:class``, built with no arguments
#: (each reads its own settings section from the environment).
BUILTIN: Mapping[str, str] = {
    "device": "asgi_oauth.features.device:DeviceAuthorization",
    "par": "asgi_oauth.features.par:PushedAuthorizationRequests",
}


@dataclass(frozen=True, slots=True)
class AuthorizationInput:
    """What :meth:`Feature.authorization_params` answers: the parameters to validate instead of those sent,
    and, when the request must be carried through sign-in and consent by other parameters than the validated
    ones (PAR carries ``client_id`` and ``request_uri``), those parameters."""

    params: Params
    continuation: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ClientAuthMethod:
    """One more client authentication method (RFC 7591 ``token_endpoint_auth_method`` name).

    ``applies`` says from the request alone whether it uses this method (say, a ``client_assertion`` is
    present); ``authenticate`` then proves it, returning the client or raising ``InvalidClient``.
    """

    name: str
    applies: Callable[[Incoming], bool]
    authenticate: Callable[[Context, Incoming], Awaitable[Client]]


class Feature:
    """A protocol added to the server. Subclass it and override the hooks you need; none is required."""

    #: The feature's name: in ``ASGI_OAUTH_FEATURES``, messages and :data:`BUILTIN`.
    name: ClassVar[str] = ""
    #: The store Protocol (``runtime_checkable``) the feature keeps its data in; ``None``: it keeps none.
    store: ClassVar[type[Any] | None] = None

    def store_part(self, server: OAuthServer) -> object:
        """The object that keeps this feature's data: the server's store itself (a third-party backend implements
        the Protocol), or a part the feature brings for the built-in stores."""
        return server.store

    def attach(self, server: OAuthServer, store: Any) -> None:
        """Called once while the server is built, with its store part (checked against :attr:`store`)."""

    def endpoints(self) -> Sequence[EndpointSpec]:
        """The paths the feature serves, relative to the mount."""
        return ()

    def grants(self) -> Sequence[GrantSpec]:
        """Grant types the token endpoint runs for the feature, after the built-in ones."""
        return ()

    def metadata(self) -> Mapping[str, Any]:
        """Keys to add to the RFC 8414 metadata document (an endpoint's URL comes from its ``url_key``)."""
        return {}

    async def authorization_params(self, ctx: Context, params: Params) -> AuthorizationInput | None:
        """Before an authorization request is validated; ``None`` keeps ``params``. Raise :class:`ErrorPage`
        to show the user an error (no redirect: the redirect URI is not established yet)."""
        return None

    async def authorization_done(self, ctx: Context, request: AuthorizationRequest) -> None:
        """Just before the authorization request is answered (a code issued, or the denial sent back); raise
        :class:`ErrorPage` to refuse instead."""

    async def token_extra(self, ctx: Context, client: Client, scope: str, user: User | None) -> Mapping[str, Any]:
        """Data to keep with the tokens being issued, under the feature's own key of the records' ``extra``."""
        return {}

    async def token_fields(self, ctx: Context, client: Client, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Fields to add to a successful token response ``body``."""
        return {}

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        """Fields to add to the introspection answer of an active token (``record.extra`` holds the feature's)."""
        return {}

    def client_auth_methods(self) -> Sequence[ClientAuthMethod]:
        """Client authentication methods the feature adds."""
        return ()


def load_features(settings: OAuthSettings, given: Iterable[Feature] | None) -> tuple[Feature, ...]:
    """The features passed in code, else those ``ASGI_OAUTH_FEATURES`` names; a name twice is an error.
    ``ENABLE_DEVICE_AUTHORIZATION``, the device flow's switch from before features, adds it when missing."""
    features = tuple(given) if given is not None else tuple(_builtin(name) for name in settings.named_features)
    names = [feature.name for feature in features]
    if given is not None and settings.enable_device_authorization and "device" not in names:
        features, names = (*features, _builtin("device")), [*names, "device"]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SettingsError(f"{ENV_PREFIX}FEATURES: {', '.join(twice)} switched on twice")
    return features


def _builtin(name: str) -> Feature:
    path = BUILTIN.get(name)
    if path is None:
        known = ", ".join(sorted(BUILTIN)) or "none"
        raise SettingsError(f"{ENV_PREFIX}FEATURES: unknown feature {name!r} (known: {known})")
    module, _, attribute = path.partition(":")
    feature: Feature = getattr(importlib.import_module(module), attribute)()
    return feature


def store_of(feature: Feature, server: OAuthServer) -> Any:
    """The feature's store part, checked against its Protocol so a backend lacking it fails at start-up."""
    part = feature.store_part(server)
    wanted = feature.store
    if wanted is not None and not isinstance(part, wanted):
        raise SettingsError(
            f"feature {feature.name!r} needs a store implementing {wanted.__name__}, "
            f"which {type(server.store).__name__} does not"
        )
    return part
