"""Features: the unit of extension. Read this module first when adding a protocol to the server.

A feature is one package under ``asgi_oauth/features/`` (or anywhere: a third party's works the same way)
holding a protocol's code, endpoints, store part and settings section. It subclasses :class:`Feature`
and overrides only the hooks it needs; each hook below says when the server calls it. A feature is
switched on by passing it, ``OAuthServer(features=[PushedAuthorizationRequests()])``, or by naming it in
``ASGI_OAUTH_FEATURES`` (``par``); :data:`BUILTIN` is the only place the core names the built-in ones.
``features/par`` is the worked example (the documentation's "Extending").

Hooks, in the order a request meets them:

- :meth:`Feature.endpoints`: the paths it serves (:class:`EndpointSpec`, back channel or any ASGI app).
- :meth:`Feature.grants`: grant types it adds at ``/token`` (:class:`GrantSpec`), listed in the metadata.
- :meth:`Feature.authorization_params`: an authorization request's parameters, before the core validates
  them (PAR swaps a ``request_uri`` for the pushed parameters here).
- :meth:`Feature.authorization_request`: the validated request, to which the feature adds its own parameters
  (OpenID Connect's ``nonce``, ``prompt``, ``max_age``), carried through sign-in and consent.
- :meth:`Feature.authorization_user`: the signed-in user (or none), who may have to sign in again first.
- :meth:`Feature.authorization_consent`: whether to answer without asking the user (or to refuse).
- :meth:`Feature.authorization_done`: an authorization request about to be answered (code or denial).
- :meth:`Feature.code_extra`: data kept with the authorization code (its ``extra``).
- :meth:`Feature.token_request`: what a token request binds its tokens to (DPoP's key), before its grant runs;
  :meth:`Feature.check_grant`: whether it may redeem that code or rotate that refresh token.
- :meth:`Feature.refreshable`, :meth:`Feature.access_token_value` and :meth:`Feature.token_extra`: whether a
  code's exchange issues a refresh token, another form of the access token (a JWT), data stored with
  issued tokens (the records' ``extra``).
- :meth:`Feature.token_fields`: fields added to the token response (an ID token); :meth:`Feature.tokens_issued`:
  told once a grant issued tokens (dynamic registration keeps a client that got some).
- :meth:`Feature.introspection_fields`: fields added to an active token's introspection answer.
- :meth:`Feature.client_auth_methods`: more ways for a client to authenticate.
- :meth:`Feature.metadata`: keys of the RFC 8414 document; :meth:`Feature.scope_descriptions`: what the
  consent and device pages say the feature's scopes allow.

At start-up, :meth:`Feature.attach` gives the feature the server, and :meth:`Feature.store_part` picks the
object that keeps its data, which must satisfy the feature's :attr:`Feature.store` Protocol: the server
checks that, and only that, for each switched-on feature. Its settings section is
:attr:`Feature.settings_model` (:class:`~asgi_oauth.settings.StrictSettings`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..cimd.documents import MethodRegistration
from ..errors import OAuthError
from ..models import AccessToken, AuthorizationCode, Client, TokenFamily, User
from ..protocol.authorize import (
    DEFAULT_RESPONSE_TYPES,
    AuthorizationRequest,
    ErrorPage,
    RequestPart,
    ResponseTypeSpec,
    SignInAgain,
    validate,
)
from ..protocol.client_auth import authenticate
from ..protocol.context import Context
from ..protocol.grants import DEFAULT_GRANTS, GrantSpec, TokenResponse, bound, issue, prepare
from ..protocol.params import Incoming, Params
from ..settings import ENV_PREFIX, FEATURE_SWITCHES, OAuthSettings, SettingsError, StrictSettings
from ..store.memory import MemoryStore
from ..web.endpoints import DEFAULT_ENDPOINTS, EndpointRequest, EndpointResponse, EndpointSpec

if TYPE_CHECKING:
    from ..store.redis import RedisStore
    from ..web.app import OAuthServer

__all__ = [
    "BUILTIN",
    "DEFAULT_ENDPOINTS",
    "DEFAULT_GRANTS",
    "DEFAULT_RESPONSE_TYPES",
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
    "RequestPart",
    "ResponseTypeSpec",
    "SignInAgain",
    "TokenResponse",
    "authenticate",
    "bound",
    "feature_of",
    "issue",
    "load_features",
    "part_for",
    "prepare",
    "registrable_methods",
    "section_variables",
    "store_of",
    "validate",
]

#: The built-in features by the name ``ASGI_OAUTH_FEATURES`` uses: ``module:class``, built with no arguments
#: (each reads its own settings section from the environment).
BUILTIN: Mapping[str, str] = {
    "device": "asgi_oauth.features.device:DeviceAuthorization",
    "oidc": "asgi_oauth.features.oidc:OpenIDConnect",
    "par": "asgi_oauth.features.par:PushedAuthorizationRequests",
    "private_key_jwt": "asgi_oauth.features.assertions:PrivateKeyJWT",
    "jwt_bearer": "asgi_oauth.features.assertions:JWTBearerGrant",
    "token_exchange": "asgi_oauth.features.exchange:TokenExchange",
    "dpop": "asgi_oauth.features.dpop:DPoP",
    "registration": "asgi_oauth.features.registration:DynamicRegistration",
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
    ``registration``, when given, lets clients register the method themselves (RFC 7591): from their metadata it
    makes what the client keeps in its ``extra`` (its keys, say) and the metadata the answer repeats, or raises
    ``ValueError`` saying what is wrong with the metadata.
    """

    name: str
    applies: Callable[[Incoming], bool]
    authenticate: Callable[[Context, Incoming], Awaitable[Client]]
    registration: MethodRegistration | None = None


def registrable_methods(features: Iterable[Feature]) -> dict[str, MethodRegistration]:
    """The features' client authentication methods that clients may register themselves (through ``/register``
    or a metadata document), by name, each with its ``registration``."""
    return {
        method.name: method.registration
        for feature in features
        for method in feature.client_auth_methods()
        if method.registration is not None
    }


_F = TypeVar("_F", bound="Feature")


def feature_of(features: Iterable[Feature], kind: type[_F]) -> _F | None:
    """The switched-on feature of class ``kind``, if any: how a feature finds another it works with (token exchange
    signs ID-JAGs with OpenID Connect's keys), or the host finds one to configure its own side (DPoP's)."""
    return next((feature for feature in features if isinstance(feature, kind)), None)


def part_for(
    store: object,
    protocol: type[Any],
    name: str,
    *,
    memory: Callable[[MemoryStore], object],
    redis: Callable[[RedisStore], object],
) -> object:
    """What keeps a feature's data beside ``store`` (:meth:`Feature.store_part`): the store itself when its backend
    implements the feature's ``protocol``; for the built-in stores the feature's part, ``memory(store)`` made once
    per memory store (so servers sharing it share the data) or ``redis(store)``; else the store, which start-up
    then refuses for not fitting ``protocol``."""
    if isinstance(store, protocol):
        return store
    if isinstance(store, MemoryStore):
        return store.part(name, lambda: memory(store))
    from ..store.redis import RedisStore

    if isinstance(store, RedisStore):
        return redis(store)
    return store


class Feature:
    """A protocol added to the server. Subclass it and override the hooks you need; none is required."""

    #: The feature's name: in ``ASGI_OAUTH_FEATURES``, messages and :data:`BUILTIN`.
    name: ClassVar[str] = ""
    #: The store Protocol (``runtime_checkable``) the feature keeps its data in; ``None``: it keeps none.
    store: ClassVar[type[Any] | None] = None
    #: Its settings section, read from the environment when the feature is built without one.
    settings_model: ClassVar[type[StrictSettings] | None] = None

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

    async def authorization_request(
        self, ctx: Context, request: AuthorizationRequest, params: Params, sent: Params
    ) -> RequestPart | None:
        """After the core validated an authorization request (``params``, a pushed request's when PAR stood in;
        ``sent``, what the browser sent): the feature's part of it, kept in ``request.extra[name]`` and carried
        through sign-in and consent. Raise an :class:`OAuthError` to answer the client with it."""
        return None

    async def authorization_user(
        self, ctx: Context, request: AuthorizationRequest, user: User | None
    ) -> SignInAgain | None:
        """Whether the signed-in ``user`` (``None``: nobody) may go on, or must sign in (again) first
        (:class:`SignInAgain`); raise an :class:`OAuthError` to answer the client with it."""
        return None

    async def authorization_consent(self, ctx: Context, request: AuthorizationRequest, *, known: bool) -> bool:
        """Whether to answer without asking the user; ``known``: the consent is given (remembered, or a first-party
        client). Raise an :class:`OAuthError` to answer the client with it instead of asking."""
        return known

    async def authorization_done(self, ctx: Context, request: AuthorizationRequest) -> None:
        """Just before the authorization request is answered (a code issued, or the denial sent back); raise
        :class:`ErrorPage` to refuse instead."""

    async def code_extra(self, ctx: Context, request: AuthorizationRequest, user: User) -> Mapping[str, Any]:
        """Data to keep with the authorization code being issued, under the feature's own key of its ``extra``
        (the token endpoint's hooks find it in ``TokenResponse.issued``)."""
        return {}

    def refreshable(self, ctx: Context, client: Client, scope: str) -> bool:
        """Whether exchanging a code for ``scope`` may issue a refresh token (the client's grants allowing)."""
        return True

    async def access_token_value(self, ctx: Context, record: AccessToken, family_id: str) -> str | None:
        """Another value for the access token being issued (an RFC 9068 JWT), or ``None`` to keep the opaque
        one; the store keeps its digest either way."""
        return None

    async def token_extra(self, ctx: Context, client: Client, scope: str, user: User | None) -> Mapping[str, Any]:
        """Data to keep with the tokens being issued, under the feature's own key of the records' ``extra``; asked
        when a grant is made (every refresh carries it on to the new family and access token)."""
        return {}

    async def token_request(self, ctx: Context, client: Client, request: Incoming) -> Mapping[str, Any]:
        """What the token request being answered binds its tokens to (DPoP's proof key), under the feature's own
        key: kept in the ``extra`` of every record the request issues, refreshes included (it wins over what the
        grant carries; ``None`` under the key keeps nothing there, unbinding). Asked once the client is
        authenticated, before the grant runs; raise an ``OAuthError`` to refuse the request. The grant's hooks find
        it in :func:`bound`."""
        return {}

    async def check_grant(self, ctx: Context, client: Client, issued: AuthorizationCode | TokenFamily) -> None:
        """Refuse (raise an ``OAuthError``) to redeem a code or rotate a refresh token that this request may not
        use, say one bound to another key than :func:`bound` holds; asked before anything is spent or stored
        (a code refused here is spent, as any failed redemption)."""

    async def token_fields(self, ctx: Context, client: Client, response: TokenResponse) -> Mapping[str, Any]:
        """Fields to add to a successful token response (``response.body()``; ``response.issued``: the code or
        refresh family it was issued from, when a grant tells)."""
        return {}

    async def tokens_issued(self, ctx: Context, client: Client, response: TokenResponse) -> None:
        """Told once a grant issued tokens to ``client``, before they are answered."""

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        """Fields to add to the introspection answer of an active token (``record.extra`` holds the feature's); an
        access token issued as an RFC 9068 JWT carries them as claims too, never replacing the JWT's own."""
        return {}

    def client_auth_methods(self) -> Sequence[ClientAuthMethod]:
        """Client authentication methods the feature adds."""
        return ()

    def scope_descriptions(self) -> Mapping[str, str]:
        """What the consent and device pages say the feature's scopes allow (the host's own descriptions win)."""
        return {}


def load_features(settings: OAuthSettings, given: Iterable[Feature] | None) -> tuple[Feature, ...]:
    """The features passed in code, else those ``ASGI_OAUTH_FEATURES`` names; a name twice is an error. The
    switches from before features (``ENABLE_OIDC``...) add theirs to either when missing."""
    features = tuple(given) if given is not None else tuple(_builtin(name) for name in settings.named_features)
    names = [feature.name for feature in features]
    if given is not None:
        for name in settings.switched_features:
            if name not in names:
                features, names = (*features, _builtin(name)), [*names, name]
    _refuse_sections_of_features_off(names)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SettingsError(f"{ENV_PREFIX}FEATURES: {', '.join(twice)} switched on twice")
    return features


def _feature_class(name: str) -> type[Feature]:
    module, _, attribute = BUILTIN[name].partition(":")
    feature: type[Feature] = getattr(importlib.import_module(module), attribute)
    return feature


def section_variables(name: str) -> frozenset[str]:
    """The environment variables of built-in feature ``name``'s settings section."""
    model = _feature_class(name).settings_model
    if model is None:
        return frozenset()
    prefix = str(model.model_config.get("env_prefix", ENV_PREFIX)).upper()
    return frozenset(f"{prefix}{field.upper()}" for field in model.model_fields)


def _refuse_sections_of_features_off(names: Sequence[str], environ: Mapping[str, str] = os.environ) -> None:
    """A built-in feature's variable set while the feature is off would be ignored: refuse it at start-up (unless
    a feature that is on reads the same section, as the JWT assertion features share theirs)."""
    given = {name.upper() for name in environ}
    read = {variable for name in names if name in BUILTIN for variable in section_variables(name)}
    for name in BUILTIN:
        if name in names:
            continue
        stray = sorted((given & section_variables(name)) - read)
        if stray:
            switch = f"{FEATURE_SWITCHES[name].upper()}=true" if name in FEATURE_SWITCHES else f"FEATURES={name}"
            raise SettingsError(f"{', '.join(stray)}: the {name} feature is off (set {ENV_PREFIX}{switch})")


def _builtin(name: str) -> Feature:
    path = BUILTIN.get(name)
    if path is None:
        known = ", ".join(sorted(BUILTIN)) or "none"
        raise SettingsError(f"{ENV_PREFIX}FEATURES: unknown feature {name!r} (known: {known})")
    return _feature_class(name)()


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
