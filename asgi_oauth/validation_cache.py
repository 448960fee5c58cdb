"""A worker's memory of validated tokens and clients, trusted only while revocations provably reach it.

Every store write that ends a token's or a client's life announces it on the store's revocation channel in
the same atomic step (``family:<F>``, ``access:<F>:<digest>``, ``client:<id>``, ``user:<sub>``). A worker
subscribed to that channel can then answer from memory, because it forgets an entry as soon as the
announcement arrives. What it cannot tell from silence is whether announcements are still arriving, so trust
is a lease: the subscriber sends a heartbeat (a PING on the subscribed connection) every fraction of the lease,
and Redis answers a connection in order, so its reply proves that every announcement committed before the
heartbeat reached Redis has been delivered. The cache answers only while the newest answered heartbeat was
sent less than ``lease`` seconds ago; otherwise validation reads the store as it would without a cache, and
the moment the subscription drops the cache is emptied.

Tokens are filed under :func:`~asgi_oauth.crypto.memory_key` (a keyed hash far cheaper than the stored
digest, which a request answered from memory then never computes), each beside its stored digest, whose first
characters (or all of it) are what an ``access:`` announcement names.

Reads that race an announcement are handled by an epoch: a caller notes :attr:`ValidationCache.epoch` before
reading the store, and :meth:`ValidationCache.keep_access` refuses to keep the result when any announcement or
flush happened meanwhile (the record read may be the one just revoked).

Nothing here talks to Redis: :mod:`asgi_oauth.store.subscriber` feeds it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass

from .loops import RunningLoop
from .models import AccessToken, Client
from .types import Clock


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """How a store's worker-local cache behaves (the ``VALIDATION_CACHE*`` settings)."""

    #: Most access tokens kept (client records are bounded by the same number); the oldest go first.
    size: int = 100_000
    #: Seconds an answered heartbeat keeps the cache trusted.
    lease: float = 0.25


def _nothing() -> None:
    pass


def _yes() -> bool:
    return True


def cache_of(store: object) -> ValidationCache | None:
    """The worker-local cache a store keeps (``None`` when it keeps none, or it is switched off)."""
    cache = getattr(store, "validation_cache", None)
    return cache if isinstance(cache, ValidationCache) else None


class Lease:
    """When the newest answered heartbeat was sent, on a monotonic clock: the cache is trusted until it is
    ``lease`` seconds old. Heartbeats are answered in the order they were sent, so a FIFO pairs them."""

    def __init__(self, lease: float, clock: Clock = time.monotonic) -> None:
        self.lease = lease
        self._clock = clock
        self._sent: list[float] = []
        #: Send time of the newest answered heartbeat; ``-inf`` while none is (not connected yet, or lost).
        self.proven = float("-inf")

    def sent(self) -> None:
        self._sent.append(self._clock())

    def answered(self) -> None:
        if self._sent:
            self.proven = self._sent.pop(0)

    def outstanding(self) -> int:
        return len(self._sent)

    def lost(self) -> None:
        self._sent.clear()
        self.proven = float("-inf")

    def valid(self) -> bool:
        return self._clock() - self.proven <= self.lease


class ValidationCache:
    """Access tokens by memory key (and by family, for announcements), and client records by id, answered only
    under a valid lease.

    Bounded: past ``size`` entries the oldest family (or client) is dropped. An entry is never answered past
    its token's expiry (``clock`` is the wall clock the records' times are in), and expired entries leave as
    new ones arrive, so a worker's memory follows the tokens alive, not every token it ever saw.
    """

    def __init__(self, options: CacheOptions, *, clock: Clock = time.time, lease_clock: Clock = time.monotonic):
        self.options = options
        self.lease = Lease(options.lease, lease_clock)
        self._clock = clock
        #: memory key -> (token, family id, stored digest): what a request looks up, by one keyed hash of what
        #: it presented (no parsing: an opaque token and a JWT alike).
        self._tokens: dict[bytes, tuple[AccessToken, str, str]] = {}
        #: family id -> the memory keys of its kept tokens: what a ``family:`` announcement drops.
        self._families: dict[str, set[bytes]] = {}
        self._clients: dict[str, Client] = {}
        #: (expiry, family, memory key) of every kept token and (expiry, "", client id) of every kept client that
        #: expires, soonest first; an entry dropped or replaced meanwhile is skipped when its time comes.
        self._expiries: list[tuple[float, str, bytes | str]] = []
        #: Bumped by every announcement and flush: a store read that started before may be stale.
        self.epoch = 0
        self._subscribed = False
        #: Called whenever the cache is asked: (re)starts the subscriber in the running event loop.
        self.keep_subscribed: Callable[[], None] = _nothing
        #: Whether every announcement that reached this machine has been read: the subscriber checks that no
        #: byte waits unread on its connections, so a request that arrived after an announcement never
        #: overtakes it inside the event loop.
        self.caught_up: Callable[[], bool] = _yes
        #: Reads what this machine's other workers revoked and answered meanwhile (handing it to
        #: :meth:`announced`): they tell the machine before they answer, so no later request here misses it.
        self.local_news: Callable[[], None] = _nothing
        #: The event loop in whose current iteration the full check last passed (``None``: not since the last
        #: iteration ended); see :meth:`trusted`.
        self._quiet: RunningLoop | None = None

    # -- what the subscriber reports ---------------------------------------------------------------------------
    def subscribed(self) -> None:
        """The subscription is confirmed (again): anything read before may have missed an announcement."""
        self.flush()
        self._subscribed = True

    def lost(self) -> None:
        """The subscription dropped: announcements may be lost until it is back."""
        self._subscribed = False
        self._quiet = None
        self.lease.lost()
        self.flush()

    def announced(self, message: bytes) -> None:
        """Forget what ``message`` revokes; an unknown kind empties the cache, which is always safe."""
        self.epoch += 1
        kind, _, rest = message.decode("utf-8", "replace").partition(":")
        if kind == "family":
            self._drop_family(rest)
        elif kind == "access":
            family_id, _, name = rest.partition(":")
            keys = self._families.get(family_id, ())
            # A family holds a token or two (one per refresh still alive): a scan costs less than an index. The
            # Redis store names a token by its digest's first characters (store.records.access_name).
            key = next((k for k in keys if self._tokens[k][2].startswith(name)), None)
            if key is not None:
                self._forget(key)
        else:
            # client:<id>, user:<sub> (whose tokens are not indexed here) and any kind a newer release
            # announces: dropping everything is rare (an operator's act) and always safe.
            self.flush()

    def flush(self) -> None:
        self.epoch += 1
        self._tokens.clear()
        self._families.clear()
        self._clients.clear()
        self._expiries.clear()

    # -- what validation asks ----------------------------------------------------------------------------------
    def trusted(self) -> bool:
        """Whether answers from memory are safe now. A lapsed lease only suspends them: the connection still
        delivers in order, so the next answered heartbeat proves the entries current again. A dropped
        subscription (:meth:`lost`) empties the cache, since what it would have delivered is gone.

        The full check (the subscriber running, this machine's ring read, the lease, no byte waiting unread on
        the subscription: a system call) is made once per event-loop iteration. Once it passed, it holds for
        the rest of the iteration: every request the loop runs now was read from its socket before the
        iteration began, so before the check, and an announcement that reached this machine before such a
        request was either read already or seen waiting by the check. Nothing is read from a socket until the
        iteration ends, and the callback that ends the quiet spell is queued before anything the next poll
        wakes. Announcements read meanwhile (the ring, this worker's own) still drop their entries at once.
        """
        quiet = self._quiet
        if quiet is not None and self._subscribed and quiet.current():
            return True
        self.keep_subscribed()
        self.local_news()
        # Caught up first: what it reads may be the PONG that renews the lease.
        if not (self._subscribed and self.caught_up() and self.lease.valid()):
            return False
        here = RunningLoop.here()
        if here is not None:
            self._quiet = here
            here.loop.call_soon(self._iteration_over)
        return True

    def _iteration_over(self) -> None:
        self._quiet = None

    def access(self, key: bytes, now: float) -> AccessToken | None:
        """The kept token while trusted and unexpired at ``now``; ``None`` means "read the store". ``key`` is
        the token's :func:`~asgi_oauth.crypto.memory_key`."""
        if not self.trusted():  # first: it may read announcements that drop the entry
            return None
        kept = self._tokens.get(key)
        return kept[0] if kept is not None and kept[0].exp > now else None

    def keep_access(self, family_id: str, key: bytes, digest: str, token: AccessToken, epoch: int) -> None:
        """Keep a token read from the store (under its memory ``key``, beside its stored ``digest``) when the
        read started at ``epoch``, if nothing was announced since."""
        if epoch != self.epoch or not self._subscribed:
            return
        self._drop_expired()
        if key not in self._tokens:
            while len(self._tokens) >= self.options.size:  # room for one more, the oldest family going first
                self._drop_family(next(iter(self._families)))
        self._tokens[key] = (token, family_id, digest)
        self._families.setdefault(family_id, set()).add(key)
        self._expire_at(token.exp, family_id, key)

    def _expire_at(self, exp: float, family_id: str, key: bytes | str) -> None:
        expiries = self._expiries
        heapq.heappush(expiries, (exp, family_id, key))
        if len(expiries) > 2 * (self.options.size + 512):
            # Mostly entries evicted or revoked long before they expire: keep only those of what is still here.
            expiries[:] = [(t.exp, f, k) for k, (t, f, _) in self._tokens.items()]
            expiries += [(c.expires_at, "", c.client_id) for c in self._clients.values() if c.expires_at]
            heapq.heapify(expiries)

    def _drop_expired(self) -> None:
        """Forget what expired; each keep pays for a few, so nothing piles up."""
        now, expiries = self._clock(), self._expiries
        while expiries and expiries[0][0] <= now:
            exp, _, key = heapq.heappop(expiries)
            if isinstance(key, str):  # a client's: (expiry, "", client id)
                client = self._clients.get(key)
                if client is not None and client.expires_at == exp:
                    del self._clients[key]
                continue
            kept = self._tokens.get(key)
            if kept is None or kept[0].exp != exp:
                continue  # dropped or kept anew since
            self._forget(key)

    def client(self, client_id: str) -> Client | None:
        if not self.trusted():
            return None
        client = self._clients.get(client_id)
        return client if client is not None and not client.expired(self._clock()) else None

    def keep_client(self, client: Client, epoch: int) -> None:
        if epoch != self.epoch or not self._subscribed:
            return
        self._drop_expired()
        if len(self._clients) >= self.options.size and client.client_id not in self._clients:
            del self._clients[next(iter(self._clients))]
        self._clients[client.client_id] = client
        if client.expires_at:
            self._expire_at(client.expires_at, "", client.client_id)

    def __len__(self) -> int:
        return len(self._tokens) + len(self._clients)

    def _forget(self, key: bytes) -> None:
        """Drop one kept token, and its family with its last one (an empty family would stay until a flush)."""
        _, family_id, _ = self._tokens.pop(key)
        keys = self._families[family_id]
        keys.discard(key)
        if not keys:
            del self._families[family_id]

    def _drop_family(self, family_id: str) -> None:
        for key in self._families.pop(family_id, ()):
            del self._tokens[key]
