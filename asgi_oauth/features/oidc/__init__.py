"""OpenID Connect Core 1.0 for the code flow as a feature: ID tokens, ``/userinfo``, ``/jwks``, ``prompt``,
``max_age`` and ``offline_access``, and RFC 9068 JWT access tokens signed with the same keys.

Switched on by ``OAuthServer(features=[OpenIDConnect()])``, ``ASGI_OAUTH_ENABLE_OIDC`` or
``ASGI_OAUTH_FEATURES=oidc``; needs the ``oidc`` extra (PyJWT with cryptography), imported only once switched
on. Its settings are :class:`OIDCSettings`; the host's user claims for ``/userinfo`` are
``OpenIDConnect(user_claims=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ... import crypto
from ...models import AccessToken, AuthorizationCode, Client, User
from ...settings import load_section
from .. import AuthorizationRequest, Context, EndpointSpec, Feature, Params, SignInAgain, TokenResponse, part_for
from . import protocol
from .protocol import ConsentRequired, LoginRequired, OpenIDRequest, UserClaims
from .settings import OIDCSettings
from .store import KeyStore, MemorySigningKeys
from .web import JWKS, FreshSignIn, UserInfo, discovery_keys, jwks_path, userinfo_path

if TYPE_CHECKING:
    from ...store.redis import RedisStore
    from ...web.app import OAuthServer
    from .keys import KeyRing

__all__ = ["KeyStore", "OIDCSettings", "OpenIDConnect", "OpenIDRequest", "UserClaims"]


class OpenIDConnect(Feature):
    """Makes the server an OpenID provider: ID tokens for ``openid`` requests, ``/userinfo`` from ``user_claims``,
    the JWKS, and RFC 9068 JWT access tokens for the clients and resources its settings name."""

    name = "oidc"
    store = KeyStore
    settings_model = OIDCSettings

    def __init__(self, settings: OIDCSettings | None = None, *, user_claims: UserClaims | None = None) -> None:
        self.settings = settings if settings is not None else load_section(OIDCSettings)
        #: The host's user claims for ``/userinfo``; ``None``: only ``sub`` is known.
        self.user_claims = user_claims
        self._keys: KeyRing | None = None
        self._fresh: FreshSignIn | None = None

    def store_part(self, server: OAuthServer) -> object:
        return self.key_store(server.store)

    def key_store(self, store: object) -> object:
        """Where generated keys are kept beside ``store``: configured keys need none; a backend keeping the
        document itself implements :class:`KeyStore`; the built-in stores get the feature's parts."""
        if self.settings.oidc_signing_keys and not isinstance(store, KeyStore):  # configured keys need no store
            return MemorySigningKeys()

        def redis(store: RedisStore) -> object:
            from .redis import RedisSigningKeys

            return RedisSigningKeys(store.parts())

        return part_for(store, KeyStore, self.name, memory=lambda _: MemorySigningKeys(), redis=redis)

    def attach(self, server: OAuthServer, store: Any) -> None:
        from .keys import KeyRing

        clock = server.context.clock
        lifetime = server.settings.access_token_lifetime
        self._keys = KeyRing(self.settings, store, access_token_lifetime=lifetime, clock=clock)
        self._fresh = FreshSignIn(server.settings)

    @property
    def keys(self) -> KeyRing:
        """The provider's signing keys (configured, or generated into the store)."""
        if self._keys is None:
            raise RuntimeError("OpenIDConnect is not attached to a server")
        return self._keys

    @property
    def fresh(self) -> FreshSignIn:
        if self._fresh is None:
            raise RuntimeError("OpenIDConnect is not attached to a server")
        return self._fresh

    # -- discovery and endpoints
    def metadata(self) -> Mapping[str, Any]:
        return discovery_keys(self.settings)

    def scope_descriptions(self) -> Mapping[str, str]:
        return protocol.SCOPE_DESCRIPTIONS

    def endpoints(self) -> Sequence[EndpointSpec]:
        return (
            # OIDC Core 5.3, and the JWK Set ID tokens and JWT access tokens verify against.
            EndpointSpec(
                "/userinfo",
                app=lambda server: UserInfo(server, self.user_claims),
                methods=("GET", "POST"),
                url_key="userinfo_endpoint",
                openapi=userinfo_path,
                cors=True,
            ),
            EndpointSpec(
                "/jwks",
                app=lambda server: JWKS(self.keys),
                methods=("GET", "HEAD"),
                url_key="jwks_uri",
                openapi=jwks_path,
                cors=True,
            ),
        )

    # -- the authorization request
    async def authorization_request(
        self, ctx: Context, request: AuthorizationRequest, params: Params, sent: Params
    ) -> OpenIDRequest | None:
        """The code flow asking for ``openid``; other response types stay plain OAuth (no ``id_token`` ones)."""
        if request.response_type != "code" or not protocol.is_openid(request.scope):
            return None
        return protocol.parse_request(params, fresh_after=sent.get("fresh_after"))

    async def authorization_user(
        self, ctx: Context, request: AuthorizationRequest, user: User | None
    ) -> SignInAgain | None:
        """OIDC Core 3.1.2.3: ``prompt`` and ``max_age`` decide whether the session is good enough.

        Otherwise the browser goes to sign in (again), carrying a signed marker back; a marker that comes back
        unsatisfied (the host did not sign the user in anew, or does not report ``auth_time``), and
        ``prompt=none`` without a fresh enough session, answer ``login_required``.
        """
        openid = _part(request)
        if openid is None:
            return None
        fresh_after = self.fresh.since(openid.fresh_after, openid.nonce)
        # Signed in after this very request was sent to sign in: fresh, whatever max_age or prompt said
        # (a second of slack for hosts that round their sign-in time down).
        signed_in = None if user is None else user.auth_time
        if signed_in is not None and fresh_after is not None and signed_in >= fresh_after - 1:
            return None
        stale = user is None or bool(openid.prompt & {"login", "select_account"})
        if user is not None and openid.max_age is not None:
            stale = stale or user.auth_time is None or ctx.clock() - user.auth_time > openid.max_age
        if not stale:
            return None
        if "none" in openid.prompt:
            raise LoginRequired("the user must sign in")
        if fresh_after is not None and user is not None:
            raise LoginRequired(
                "the user did not sign in again" if user.auth_time is not None else "auth_time is unknown"
            )
        marked = request.with_part(self.name, replace(openid, fresh_after=self.fresh.issue(openid.nonce)))
        # Tell the host's sign-in page what the client asked for.
        hints = {"login_hint": openid.login_hint} if openid.login_hint is not None else {}
        if user is not None:
            hints["prompt"] = "login"
        return SignInAgain(marked, hints)

    async def authorization_consent(self, ctx: Context, request: AuthorizationRequest, *, known: bool) -> bool:
        """``prompt=consent`` asks even when the consent is known; ``prompt=none`` never asks."""
        openid = _part(request)
        if openid is None:
            return known
        if "consent" in openid.prompt:
            return False
        if "none" in openid.prompt and not known:
            raise ConsentRequired("the user has not consented to this client")
        return known

    async def code_extra(self, ctx: Context, request: AuthorizationRequest, user: User) -> Mapping[str, Any]:
        openid = _part(request)
        return {} if openid is None else {self.name: {"nonce": openid.nonce}}

    # -- the token endpoint
    def refreshable(self, ctx: Context, client: Client, scope: str) -> bool:
        return protocol.grants_refresh(scope)

    async def access_token_value(self, ctx: Context, record: AccessToken, family_id: str) -> str | None:
        """An RFC 9068 JWT when the client or the resource asked for one. Its ``jti`` starts with the family id,
        which is how :func:`asgi_oauth.crypto.family_of` finds the family (and the Cluster slot) of a JWT."""
        if not protocol.wants_jwt(self.settings, record.client_id, record.resource):
            return None
        jti = f"{family_id}.{crypto.new_jti()}"
        claims = protocol.access_token_claims(ctx.settings.issuer, record, jti)
        for feature in ctx.features:  # what features say of a token (token exchange's act) is a claim of it too,
            for name, value in feature.introspection_fields(record).items():  # but for the introspection's type
                if name != "token_type":
                    claims.setdefault(name, value)
        return await self.keys.sign(claims, typ="at+jwt")

    async def token_fields(self, ctx: Context, client: Client, response: TokenResponse) -> Mapping[str, Any]:
        """OIDC Core 3.1.3.3: an ``openid`` grant's code exchange answers an ID token for the client; 12.2: so does
        each refresh, with the original ``auth_time`` and no ``nonce``."""
        issued = response.issued
        if issued is None or issued.sub is None or not protocol.is_openid(issued.scope):
            return {}
        nonce = _nonce(issued) if isinstance(issued, AuthorizationCode) else None
        claims = protocol.id_token_claims(
            issuer=ctx.settings.issuer,
            client_id=client.client_id,
            sub=issued.sub,
            now=ctx.clock(),
            lifetime=self.settings.id_token_lifetime,
            access_token=response.access_token,
            alg=self.keys.alg,
            nonce=nonce,
            auth_time=issued.auth_time,
        )
        return {"id_token": await self.keys.sign(claims, typ="JWT")}


def _part(request: AuthorizationRequest) -> OpenIDRequest | None:
    part = request.extra.get(OpenIDConnect.name)
    return part if isinstance(part, OpenIDRequest) else None


def _nonce(code: AuthorizationCode) -> str | None:
    """The request's ``nonce``: in the code's ``extra``, or where releases before this feature kept it."""
    mine = code.extra.get(OpenIDConnect.name)
    return mine.get("nonce") if isinstance(mine, Mapping) else code.nonce
