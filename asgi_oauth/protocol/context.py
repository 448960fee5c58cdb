"""What every protocol step may consult: settings, storage, clients, the clock and the host's hooks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cimd.documents import MetadataDocuments, is_document_url
from ..models import Client, User
from ..operations.events import Events
from ..settings import OAuthSettings
from ..store.base import Store
from ..types import Clock
from ..validation_cache import cache_of
from .ratelimit import Limiter

if TYPE_CHECKING:
    from ..features import Feature


class ClientLookup:
    """Clients declared in code first, then the store.

    What the store answers is remembered so that a token request costs one store round trip: in the store's
    :class:`~asgi_oauth.validation_cache.ValidationCache` when it keeps one (a deleted client is then forgotten
    everywhere the moment its deletion is announced), else for ``cache_ttl`` seconds, at the price that a client
    deleted elsewhere keeps authenticating on this worker that long. Unknown ids are never remembered, so a
    newly registered client works at once.
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
        #: The store's announced cache, shared with token validation; the TTL cache is used only without one.
        self.cache = cache_of(store)
        self._ttl = cache_ttl if self.cache is None else 0.0
        self._clock = clock
        self._cache: dict[str, tuple[Client, float]] = {}

    def known(self, client_id: str) -> Client | None:
        """The client when this worker knows it without reading the store (declared, or remembered), else ``None``."""
        client = self._declared.get(client_id)
        if client is not None:
            return client
        if self.cache is not None:
            return self.cache.client(client_id)
        if self._ttl > 0:
            cached = self._cache.get(client_id)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
        return None

    async def get(self, client_id: str) -> Client | None:
        client = self.known(client_id)
        if client is not None:
            return client
        cache = self.cache
        epoch = cache.epoch if cache is not None else 0  # before the read: an announcement meanwhile voids it
        client = await self._store.get_client(client_id)
        if client is not None and cache is not None:
            # Registered clients only: a document client changes with its document, which nothing announces.
            cache.keep_client(client, epoch)
        if client is None and self._documents is not None and is_document_url(client_id):
            client = await self._documents.resolve(client_id)  # raises DocumentError
        if client is not None and self._ttl > 0:
            if len(self._cache) >= self._MAX_CACHED:
                self._cache.clear()
            self._cache[client_id] = (client, self._clock() + self._ttl)
        return client

    def replace(self, client: Client) -> None:
        """Remember ``client`` as just written to the store by this worker (a store client, not a declared one)."""
        if self.cache is not None:
            self.cache.keep_client(client, self.cache.epoch)
        elif self._ttl > 0 and client.client_id in self._cache:
            self._cache[client.client_id] = (client, self._clock() + self._ttl)


#: Checks a resource owner's username and password (password grant); ``None`` when they are wrong.
PasswordVerifier = Callable[[str, str], Awaitable[User | None]]


@dataclass(frozen=True, slots=True)
class Context:
    """What every protocol step and feature hook works with: the settings, the store, the clients, the rate
    limiter, the clock, the event hooks and the switched-on features."""

    settings: OAuthSettings
    store: Store
    clients: ClientLookup
    limiter: Limiter
    clock: Clock = time.time
    password_verifier: PasswordVerifier | None = None
    #: Where protocol steps report what happened (:mod:`asgi_oauth.operations.events`); no hooks by default.
    events: Events = field(default_factory=Events)
    #: The switched-on features (:mod:`asgi_oauth.features`), whose hooks the protocol steps call.
    features: tuple[Feature, ...] = ()
