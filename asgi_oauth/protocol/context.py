"""What every protocol step may consult: settings, storage, clients, the clock and the host's hooks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from ..models import Client, User
from ..settings import OAuthSettings
from ..store.base import Store
from ..types import Clock
from .cimd import MetadataDocuments, is_document_url
from .oidc import TokenSigner, UserClaims
from .ratelimit import Limiter


class ClientLookup:
    """Clients declared in code first, then the store, whose answers are cached for ``cache_ttl`` seconds.

    The cache is what lets a token request cost one store round trip. Its price: a client deleted
    (or re-registered) elsewhere keeps authenticating on this worker for up to ``cache_ttl`` seconds.
    Unknown ids are never cached, so a newly registered client works at once.
    """

    _MAX_CACHED = 10_000

    def __init__(
        self,
        store: Store,
        declared: Mapping[str, Client],
        *,
        cache_ttl: float = 0.0,
        clock: Clock = time.monotonic,
        documents: MetadataDocuments | None = None,
    ) -> None:
        self._store = store
        #: Client ID Metadata Documents, when switched on: an https client id no store knows is fetched.
        self._documents = documents
        self._declared = declared
        self._ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[Client, float]] = {}

    async def get(self, client_id: str) -> Client | None:
        client = self._declared.get(client_id)
        if client is not None:
            return client
        if self._ttl > 0:
            cached = self._cache.get(client_id)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
        client = await self._store.get_client(client_id)
        if client is None and self._documents is not None and is_document_url(client_id):
            client = await self._documents.resolve(client_id)  # raises DocumentError
        if client is not None and self._ttl > 0:
            if len(self._cache) >= self._MAX_CACHED:
                self._cache.clear()
            self._cache[client_id] = (client, self._clock() + self._ttl)
        return client


#: Checks a resource owner's username and password (password grant); ``None`` when they are wrong.
PasswordVerifier = Callable[[str, str], Awaitable[User | None]]


@dataclass(frozen=True, slots=True)
class Context:
    settings: OAuthSettings
    store: Store
    clients: ClientLookup
    limiter: Limiter
    clock: Clock = time.time
    password_verifier: PasswordVerifier | None = None
    #: OpenID Connect (``enable_oidc``): signs ID tokens and JWT access tokens; ``None`` when it is off.
    signer: TokenSigner | None = None
    #: The host's user claims for ``/userinfo`` (OpenID Connect); ``None``: only ``sub`` is known.
    user_claims: UserClaims | None = None
