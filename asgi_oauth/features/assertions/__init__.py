"""JWT assertions (RFC 7521, RFC 7523) as features: ``private_key_jwt`` and ``client_secret_jwt`` client
authentication, and the JWT bearer grant with identity assertions (ID-JAG) from trusted identity providers or
workload identity tokens from trusted platforms.

:class:`PrivateKeyJWT` (``ASGI_OAUTH_FEATURES=private_key_jwt``): a client registered with
``token_endpoint_auth_method="private_key_jwt"`` and its public keys (:func:`registered_keys`: a JWK Set, or the
https URL of one) authenticates with JWTs it signs; one registered with ``client_secret_jwt`` signs them with
HMAC and a secret the server derives from its ``secret_key`` (unless ``secret_algorithms`` is empty).
:class:`JWTBearerGrant` (``jwt_bearer``): a client exchanges an ID-JAG that a :class:`TrustedIssuer` signed for a
user into an access token for that user; a workload does the same with its platform's token, acting as the client
a :class:`TrustRule` of that issuer names. Both read the ``ASGI_OAUTH_ASSERTION_*`` settings
(:class:`AssertionSettings`) and need the ``assertions`` extra (PyJWT with ``cryptography``), and the ``remote``
extra (httpx) for keys fetched from a ``jwks_uri``.

The package holds what every assertion feature shares, each part readable without the server: :mod:`.verify`
(is this signed claim set one to accept), :mod:`.keys` (whose keys verify it) and :mod:`.replay` (each ``jti``
accepted once, atomically on every store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...cimd.documents import Fetcher
from ...settings import load_section
from .. import ClientAuthMethod, Context, Feature, GrantSpec, Incoming, Params, TokenResponse, part_for
from .issuers import TrustedIssuer, TrustRule
from .names import (
    ASSERTION_TYPE,
    ASYMMETRIC,
    EPHEMERAL_KEY_REFUSAL,
    EXTRA_KEY,
    HMAC_METHOD,
    JWT_BEARER,
    KeySetError,
    registered_keys,
)
from .settings import AssertionSettings
from .store import MemoryTrustedIssuers, TrustedIssuerStore

if TYPE_CHECKING:
    from ...models import Client
    from ...store.redis import RedisStore
    from ...web.app import OAuthServer
    from .bearer import Admitted
    from .keys import KeySets

__all__ = [
    "ASSERTION_TYPE",
    "ASYMMETRIC",
    "JWT_BEARER",
    "AssertionSettings",
    "JWTBearerGrant",
    "KeySetError",
    "PrivateKeyJWT",
    "TrustRule",
    "TrustedIssuer",
    "TrustedIssuerStore",
    "registered_keys",
]

#: Endpoints whose metadata lists the algorithms their client authentication accepts (RFC 8414 section 2).
_SIGNED_AT = ("token_endpoint", "introspection_endpoint", "revocation_endpoint")


class PrivateKeyJWT(Feature):
    """``private_key_jwt`` and ``client_secret_jwt`` client authentication (RFC 7523 section 2.2): a client
    proves itself with a JWT it signs instead of sending a secret."""

    name = "private_key_jwt"
    settings_model = AssertionSettings

    def __init__(self, settings: AssertionSettings | None = None, *, fetcher: Fetcher | None = None) -> None:
        """``fetcher`` gets a client's ``jwks_uri`` (default: the guarded fetcher of metadata documents)."""
        _needs_pyjwt()
        from .client_auth import applies

        self.settings = settings if settings is not None else load_section(AssertionSettings)
        # Built once: the token endpoint asks for the features' methods on every request. Both send a
        # client_assertion: whichever applies first verifies it by the method its client registered.
        keyed = ClientAuthMethod(EXTRA_KEY, applies, self._authenticate, registration=_registration)
        derived = ClientAuthMethod(HMAC_METHOD, applies, self._authenticate, registration=self._secret_registration)
        self._methods = (keyed, derived) if self.settings.secret_algorithms else (keyed,)
        self._names = frozenset(method.name for method in self._methods)
        self._fetcher = fetcher
        self._server: OAuthServer | None = None
        self._keys: KeySets | None = None
        self._audiences: frozenset[str] | None = None

    def attach(self, server: OAuthServer, store: Any) -> None:
        self._server = server
        self._keys = _key_sets(self.settings, self._fetcher, server, "the client's jwks_uri")

    def client_auth_methods(self) -> Sequence[ClientAuthMethod]:
        return self._methods

    def metadata(self) -> Mapping[str, Any]:
        listed = self._server.metadata if self._server is not None else {}
        algorithms = [*self.settings.algorithms, *self.settings.secret_algorithms]
        return {
            f"{endpoint}_auth_signing_alg_values_supported": algorithms for endpoint in _SIGNED_AT if endpoint in listed
        }

    async def _authenticate(self, ctx: Context, request: Incoming) -> Client:
        if self._keys is None:
            raise RuntimeError("PrivateKeyJWT is not attached to a server")
        from . import client_auth

        return await client_auth.authenticate(
            ctx,
            request,
            keys=self._keys,
            settings=self.settings,
            audiences=self._accepted_audiences,
            methods=self._names,
        )

    def _secret_registration(self, metadata: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """A client registering ``client_secret_jwt`` (RFC 7591) sends nothing more: its salt and secret are made
        with its id (:func:`~asgi_oauth.clients.new_client`), once the server's ``secret_key`` is known to be set."""
        if self._server is None or self._server.settings.ephemeral_key:
            raise ValueError(EPHEMERAL_KEY_REFUSAL)
        return {}, {}

    def _accepted_audiences(self) -> frozenset[str]:
        """The issuer identifier and every endpoint URL of this server, read once the metadata is built."""
        if self._audiences is None:
            server = self._server
            if server is None:
                raise RuntimeError("PrivateKeyJWT is not attached to a server")
            urls = [url for key, url in server.metadata.items() if key.endswith("_endpoint") and isinstance(url, str)]
            self._audiences = frozenset([server.settings.issuer, *urls])
        return self._audiences


def _registration(metadata: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """A client registering ``private_key_jwt`` (RFC 7591) gives its keys as ``jwks`` or ``jwks_uri``."""
    jwks, jwks_uri = metadata.get("jwks"), metadata.get("jwks_uri")
    if jwks_uri is not None and not isinstance(jwks_uri, str):
        raise KeySetError("jwks_uri must be a string")
    extra = registered_keys(jwks=jwks, jwks_uri=jwks_uri)
    return extra, dict(extra[EXTRA_KEY])


def _needs_pyjwt() -> None:
    """Built without the assertions extra, a feature says which extra to install (:class:`MissingExtra`) at once,
    not at its first request; the package itself imports without it, so its settings are known everywhere."""
    from . import verify  # noqa: F401 (imported for its check)


def _key_sets(settings: AssertionSettings, fetcher: Fetcher | None, server: OAuthServer, what: str) -> KeySets:
    """Where a feature finds signers' keys: fetched by ``fetcher``, by default the guarded one of metadata documents."""
    from .keys import KeySets

    if fetcher is None:
        from ...cimd.fetch import document_fetcher

        fetcher = document_fetcher(seconds=settings.jwks_fetch_timeout, max_bytes=settings.jwks_max_bytes, what=what)
    return KeySets(
        fetcher,
        clock=server.context.clock,
        least=settings.jwks_cache_least,
        most=settings.jwks_cache_most,
        min_refetch=settings.jwks_min_refetch,
    )


class JWTBearerGrant(Feature):
    """RFC 7523 section 2.1 with the ID-JAG and workload identity profiles: :mod:`.bearer` says what is checked."""

    name = "jwt_bearer"
    store = TrustedIssuerStore
    settings_model = AssertionSettings

    def __init__(
        self,
        settings: AssertionSettings | None = None,
        *,
        issuers: Sequence[TrustedIssuer] = (),
        fetcher: Fetcher | None = None,
    ) -> None:
        """``issuers`` are trusted besides ``ASGI_OAUTH_ASSERTION_ISSUERS`` and those an operator added to the store
        (``asgi-oauth issuers add``); ``fetcher`` gets their ``jwks_uri``."""
        _needs_pyjwt()
        self.settings = settings if settings is not None else load_section(AssertionSettings)
        self.issuers = {trusted.issuer: trusted for trusted in (*self.settings.issuers, *issuers)}
        self._fetcher = fetcher
        self._keys: KeySets | None = None
        self._stored: TrustedIssuerStore | None = None

    def store_part(self, server: OAuthServer) -> object:
        return self.issuer_store(server.store)

    def issuer_store(self, store: object) -> object:
        """Where added issuers are kept beside ``store``: a backend implementing :class:`TrustedIssuerStore`
        itself, or the feature's part for the built-in stores (what ``asgi-oauth issuers`` works on, too)."""

        def redis(store: RedisStore) -> object:
            from .redis import RedisTrustedIssuers

            return RedisTrustedIssuers(store.parts())

        return part_for(store, TrustedIssuerStore, self.name, memory=lambda _: MemoryTrustedIssuers(), redis=redis)

    def attach(self, server: OAuthServer, store: Any) -> None:
        self._stored = store
        self._keys = _key_sets(self.settings, self._fetcher, server, "the identity provider's jwks_uri")

    async def trusted(self, issuer: str) -> TrustedIssuer | None:
        """The issuer named ``issuer`` if it is trusted: configured, or added to the store (read each time, so
        removing it there takes effect at once on every worker)."""
        configured = self.issuers.get(issuer)
        if configured is not None or self._stored is None:
            return configured
        return await self._stored.get_issuer(issuer)

    def grants(self) -> Sequence[GrantSpec]:
        assertion = {
            "type": "string",
            "description": "RFC 7523: a signed JWT, an identity assertion grant (ID-JAG) or a workload identity token",
        }
        errors: tuple[str, ...] = ("invalid_target",)
        return (GrantSpec(JWT_BEARER, self._grant, params={"assertion": assertion}, errors=errors),)

    async def _grant(self, ctx: Context, client: Client, request: Incoming) -> TokenResponse:
        from . import bearer

        return await bearer.jwt_bearer(
            ctx, client, request.params, trusted=self.trusted, keys=self._need_keys(), settings=self.settings
        )

    async def admit(self, ctx: Context, client: Client, params: Params) -> Admitted:
        """What ``params``' ``assertion`` admits ``client`` to, checked as the grant checks it, without issuing:
        token exchange takes a JWT of a trusted issuer (``subject_token_type`` or ``actor_token_type`` jwt) so."""
        from . import bearer

        return await bearer.admit(
            ctx, client, params, trusted=self.trusted, keys=self._need_keys(), settings=self.settings
        )

    def _need_keys(self) -> KeySets:
        if self._keys is None:
            raise RuntimeError("JWTBearerGrant is not attached to a server")
        return self._keys
