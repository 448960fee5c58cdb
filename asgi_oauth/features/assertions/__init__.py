"""JWT assertions (RFC 7521, RFC 7523) as features: first ``private_key_jwt`` client authentication.

:class:`PrivateKeyJWT` is switched on by ``OAuthServer(features=[PrivateKeyJWT()])`` or
``ASGI_OAUTH_FEATURES=private_key_jwt``; its settings are ``ASGI_OAUTH_ASSERTION_*`` (:class:`AssertionSettings`).
A client authenticates with it when it is registered with ``token_endpoint_auth_method="private_key_jwt"`` and
its public keys (:func:`registered_keys`: a JWK Set, or the https URL of one). Needs the ``assertions`` extra
(PyJWT with ``cryptography``), and the ``remote`` extra (httpx) for keys fetched from a ``jwks_uri``.

The package holds what every assertion feature shares, each part readable without the server: :mod:`.verify`
(is this signed claim set one to accept), :mod:`.keys` (whose keys verify it) and the replay rule (a ``jti`` is
claimed once in the store, :meth:`~asgi_oauth.store.base.ConsentStore.claim_once`, atomic on every store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...cimd.documents import Fetcher
from ...settings import load_section
from .. import ClientAuthMethod, Context, Feature, Incoming
from . import client_auth
from .keys import EXTRA_KEY, ClientKeys, registered_keys
from .settings import AssertionSettings
from .verify import ASYMMETRIC, KeySetError

if TYPE_CHECKING:
    from ...models import Client
    from ...web.app import OAuthServer

__all__ = ["ASSERTION_TYPE", "ASYMMETRIC", "AssertionSettings", "KeySetError", "PrivateKeyJWT", "registered_keys"]

ASSERTION_TYPE = client_auth.ASSERTION_TYPE
#: Endpoints whose metadata lists the algorithms their client authentication accepts (RFC 8414 section 2).
_SIGNED_AT = ("token_endpoint", "introspection_endpoint", "revocation_endpoint")


class PrivateKeyJWT(Feature):
    name = "private_key_jwt"
    settings_model = AssertionSettings

    def __init__(self, settings: AssertionSettings | None = None, *, fetcher: Fetcher | None = None) -> None:
        """``fetcher`` gets a client's ``jwks_uri`` (default: the guarded fetcher of metadata documents)."""
        self.settings = settings if settings is not None else load_section(AssertionSettings)
        self._fetcher = fetcher
        self._server: OAuthServer | None = None
        self._keys: ClientKeys | None = None
        self._audiences: frozenset[str] | None = None

    def attach(self, server: OAuthServer, store: Any) -> None:
        settings = self.settings
        fetcher = self._fetcher
        if fetcher is None:
            from ...cimd.fetch import document_fetcher

            fetcher = document_fetcher(
                seconds=settings.jwks_fetch_timeout, max_bytes=settings.jwks_max_bytes, what="the client's jwks_uri"
            )
        self._server = server
        self._keys = ClientKeys(
            fetcher,
            clock=server.context.clock,
            least=settings.jwks_cache_least,
            most=settings.jwks_cache_most,
            min_refetch=settings.jwks_min_refetch,
        )

    def client_auth_methods(self) -> Sequence[ClientAuthMethod]:
        return (
            ClientAuthMethod(client_auth.METHOD, client_auth.applies, self._authenticate, registration=_registration),
        )

    def metadata(self) -> Mapping[str, Any]:
        listed = self._server.metadata if self._server is not None else {}
        algorithms = list(self.settings.algorithms)
        return {
            f"{endpoint}_auth_signing_alg_values_supported": algorithms for endpoint in _SIGNED_AT if endpoint in listed
        }

    async def _authenticate(self, ctx: Context, request: Incoming) -> Client:
        if self._keys is None:
            raise RuntimeError("PrivateKeyJWT is not attached to a server")
        return await client_auth.authenticate(
            ctx, request, keys=self._keys, settings=self.settings, audiences=self._accepted_audiences
        )

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
