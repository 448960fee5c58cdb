"""DPoP (RFC 9449): sender-constrained tokens. A client proves, with each request, that it holds the private key
its tokens are bound to, so a token that leaks is useless to whoever finds it.

Switched on by ``OAuthServer(features=[DPoP()])`` or ``ASGI_OAUTH_FEATURES=dpop``; its settings are
``ASGI_OAUTH_DPOP_*`` (:class:`DPoPSettings`) and it needs the ``dpop`` extra (PyJWT with ``cryptography``).
At the token endpoint (:mod:`.protocol`) a request with a ``DPoP`` proof gets tokens bound to the proof's key;
the middleware (:mod:`asgi_oauth.middleware`) then accepts such a token only with a proof made with that key.
:mod:`asgi_oauth.dpop` holds what both sides share: checking a proof, the server's nonces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ...asgi import header_values
from ...dpop import EXTRA_KEY, bound_to, jkt_of
from ...models import AccessToken, AuthorizationCode, Client, TokenFamily
from ...settings import load_section
from .. import AuthorizationRequest, Context, Feature, Incoming, Params, TokenResponse, bound, feature_of
from .settings import DPoPSettings

if TYPE_CHECKING:
    from ...dpop.nonces import Nonces
    from ...dpop.resource import ResourceDPoP
    from ...web.app import OAuthServer

__all__ = ["DPoP", "DPoPSettings", "resource_side"]


class DPoP(Feature):
    """DPoP (RFC 9449) at the token endpoint: a request with a proof gets tokens bound to the proof's key, and
    refreshing or using them takes a proof made with that key."""

    name = "dpop"
    settings_model = DPoPSettings

    def __init__(self, settings: DPoPSettings | None = None) -> None:
        from ...dpop import proof  # noqa: F401 (says at once which extra is missing, not at the first request)

        self.settings = settings if settings is not None else load_section(DPoPSettings)
        self._server: OAuthServer | None = None
        self._nonces: Nonces | None = None

    def attach(self, server: OAuthServer, store: Any) -> None:
        from ...dpop.nonces import Nonces
        from .protocol import nonce_key

        self._server = server
        if self.settings.nonces:
            key = nonce_key(server.settings)
            self._nonces = Nonces(key, period=self.settings.nonce_period, clock=server.context.clock)

    def resource(self, **options: Any) -> ResourceDPoP:
        """What a protected resource of this deployment accepts (for ``BearerTokenMiddleware(dpop=...)``): these
        settings' algorithms and proof lifetime, and, with ``ASGI_OAUTH_DPOP_NONCES``, the server's nonces;
        ``options`` as :class:`~.resource.ResourceDPoP` takes them."""
        from ...dpop.resource import ResourceDPoP

        settings = self.settings
        return ResourceDPoP(
            algorithms=settings.algorithms,
            proof_lifetime=settings.proof_lifetime,
            leeway=settings.leeway,
            **{"nonces": self._nonces, **options},
        )

    def metadata(self) -> Mapping[str, Any]:
        return {"dpop_signing_alg_values_supported": list(self.settings.algorithms)}

    # -- /authorize: dpop_jkt (section 10)
    async def authorization_request(
        self, ctx: Context, request: AuthorizationRequest, params: Params, sent: Params
    ) -> Any:
        from .protocol import requested_jkt

        return requested_jkt(params)

    async def code_extra(self, ctx: Context, request: AuthorizationRequest, user: Any) -> Mapping[str, Any]:
        part = request.extra.get(self.name)
        jkt = getattr(part, "jkt", None)
        return bound_to(jkt) if isinstance(jkt, str) else {}

    # -- /token
    async def token_request(self, ctx: Context, client: Client, request: Incoming) -> Mapping[str, Any]:
        from . import protocol

        proofs = header_values(getattr(request, "headers", ()), b"dpop")  # a back-channel request keeps its headers
        proof = protocol.checked(
            proofs, url=self._token_url(), now=ctx.clock(), settings=self.settings, nonces=self._nonces, client=client
        )
        if proof is None:
            # Unbound tokens: a confidential client's refresh without a proof too, whatever bound the grant before.
            return {EXTRA_KEY: None}
        expires_at = proof.acceptable_until(self.settings.proof_lifetime, self.settings.leeway)
        if not await ctx.store.claim_once(protocol.replay_name(proof), expires_at=expires_at):
            from .errors import InvalidDPoPProof

            raise InvalidDPoPProof("this DPoP proof was used before: make a new one, with a new jti, per request")
        return bound_to(proof.jkt)

    async def check_grant(self, ctx: Context, client: Client, issued: AuthorizationCode | TokenFamily) -> None:
        from .protocol import check_grant

        check_grant(client, issued, jkt_of(bound()))

    async def token_fields(self, ctx: Context, client: Client, response: TokenResponse) -> Mapping[str, Any]:
        return {"token_type": "DPoP"} if jkt_of(bound()) is not None else {}

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        """RFC 9449 section 6: ``cnf.jkt`` and ``token_type`` DPoP in introspection; ``cnf`` is a claim of a JWT
        access token too (``token_type`` is the introspection's word, no claim)."""
        jkt = jkt_of(record.extra) if isinstance(record, AccessToken) else None
        return {"cnf": {"jkt": jkt}, "token_type": "DPoP"} if jkt is not None else {}

    def _token_url(self) -> str:
        server = self._server
        if server is None:
            raise RuntimeError("DPoP is not attached to a server")
        url = server.metadata.get("token_endpoint")
        return url if isinstance(url, str) else f"{server.settings.issuer}/token"


def resource_side(features: Iterable[Feature]) -> ResourceDPoP | None:
    """What a resource served beside the server accepts of DPoP: the dpop feature's (:meth:`DPoP.resource`), or none
    while the feature is off (bound tokens are then refused there)."""
    dpop = feature_of(features, DPoP)
    return dpop.resource() if dpop is not None else None
