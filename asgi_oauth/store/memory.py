"""In-process store: the embedded default for the demo and single-process apps, and a test double.

Each verb runs without an ``await`` between its reads and writes, so it is atomic with respect to
other tasks on the event loop. It is not shared between processes: run one worker with it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, Literal, TypeVar

from ..models import (
    AccessToken,
    AuthorizationCode,
    Bucket,
    Client,
    CodeReplayed,
    LimitCheck,
    Outcome,
    TokenFamily,
    TokenLookup,
)
from ..types import Clock
from .base import AddOutcome

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = TypeVar("P")


class Expiring(Generic[K, V]):
    """A dict whose entries vanish at their expiry time (a feature's memory part keeps its data in these too).
    A heap of expiry times lets each write drop what has expired since the last one, so memory stays bounded
    without ever scanning the whole dict."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[K, tuple[V, float]] = {}
        #: (expiry, write number, key); entries of overwritten or deleted keys stay until they come up.
        self._queue: list[tuple[float, int, K]] = []
        self._writes = 0

    def get(self, key: K) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._data[key]
            return None
        return entry[0]

    def entry(self, key: K) -> tuple[V, float] | None:
        """The live value with its expiry time, to write it back changed but no longer-lived."""
        return self._data.get(key) if self.get(key) is not None else None

    def set(self, key: K, value: V, expires_at: float) -> None:
        data, queue = self._data, self._queue
        data[key] = (value, expires_at)
        self._writes += 1
        heapq.heappush(queue, (expires_at, self._writes, key))
        now = self._clock()
        while queue and queue[0][0] <= now:
            _, _, stale = heapq.heappop(queue)
            entry = data.get(stale)
            if entry is not None and entry[1] <= now:
                del data[stale]
        if len(queue) > 2 * len(data) + 1024:  # mostly overwritten keys' entries: rebuild from the live ones
            self._queue = [(exp, i, k) for i, (k, (_, exp)) in enumerate(data.items())]
            heapq.heapify(self._queue)

    def pop(self, key: K) -> V | None:
        value = self.get(key)
        self._data.pop(key, None)
        return value

    def __len__(self) -> int:
        return len(self._data)


#: An owner index's member: (family id, kind, digest); kind "" (a family), "a" (a lone token), "c" (a code), or
#: a feature's own letter (:meth:`MemoryStore.on_revoke`).
_Member = tuple[str, str, str]


class _Holdings:
    """What one user or client holds: member -> expiry, with a heap to drop expired members in amortized
    O(log n) per write (an owner with a million live tokens must not cost a million steps per token)."""

    __slots__ = ("latest", "members", "queue")

    def __init__(self) -> None:
        self.members: dict[_Member, float] = {}
        self.queue: list[tuple[float, _Member]] = []
        self.latest = 0.0

    def add(self, member: _Member, expires_at: float, now: float) -> None:
        members, queue = self.members, self.queue
        while queue and queue[0][0] <= now:
            exp, gone = heapq.heappop(queue)
            if members.get(gone) == exp:  # not extended since (a rotation pushes a later entry)
                del members[gone]
        if expires_at > members.get(member, 0.0):
            members[member] = expires_at
            heapq.heappush(queue, (expires_at, member))
        self.latest = max(self.latest, expires_at)


#: A code's record until spent; then "spent" (burnt), "spent:<access digest>" (redeemed) or "replayed".
_CodeState = AuthorizationCode | str


class MemoryStore:
    """Everything in this process's memory: for the demo, tests and a single worker. Nothing is shared between
    processes or survives a restart; use :class:`asgi_oauth.RedisStore` for more."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._clients: dict[str, Client] = {}
        self._dynamic: set[str] = set()
        self._codes: Expiring[tuple[str, str], _CodeState] = Expiring(clock)
        self._access: Expiring[tuple[str, str], AccessToken] = Expiring(clock)
        self._families: Expiring[str, TokenFamily] = Expiring(clock)
        # Each family's access tokens, so that revoking the family deletes them (as Redis does).
        self._members: Expiring[str, set[str]] = Expiring(clock)
        # The tokens exchanged for each access token (RFC 8693), by (family id, its digest): ending it ends them.
        self._exchanged: Expiring[tuple[str, str], set[str]] = Expiring(clock)
        self._spent: Expiring[tuple[str, str], bool] = Expiring(clock)
        self._consents: Expiring[tuple[str, str], str] = Expiring(clock)
        self._claimed: Expiring[str, bool] = Expiring(clock)
        self._failures: Expiring[str, list[float]] = Expiring(clock)
        self._known: Expiring[str, bool] = Expiring(clock)
        self._documents: Expiring[str, Client] = Expiring(clock)
        # What each user and client holds, as Redis' owner indexes: member -> expiry. A member is
        # (family id, "", "") for a family, (family id, "a", digest) for a lone token, (.., "c", digest) for a code.
        self._owners: Expiring[tuple[str, str], _Holdings] = Expiring(clock)
        # How a feature's members end (kind -> what deletes (family id, digest)), see on_revoke.
        self._enders: dict[str, Callable[[str, str], object]] = {"c": lambda f, d: self._codes.pop((f, d))}

        # Features' parts kept with this store (see part), so every server sharing it shares them.
        self._parts: dict[str, object] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def part(self, name: str, make: Callable[[], P]) -> P:
        """The feature ``name``'s memory part of this store, made by ``make`` the first time it is asked for."""
        if name not in self._parts:
            self._parts[name] = make()
        return self._parts[name]  # type: ignore[return-value]  # made by the same feature's make

    # -- clients ---------------------------------------------------------------------------------
    async def create_client(self, client: Client) -> bool:
        if client.client_id in self._clients:
            return False
        self._clients[client.client_id] = client
        return True

    async def get_client(self, client_id: str) -> Client | None:
        client = self._clients.get(client_id)
        if client is not None and client.dynamic and client.expired(self._clock()):
            return None
        return client

    async def list_clients(self) -> list[Client]:
        now = self._clock()
        return [c for k in sorted(self._clients) if not (c := self._clients[k]).expired(now)]

    async def delete_client(self, client_id: str) -> bool:
        self._sweep_clients()
        self._dynamic.discard(client_id)
        return self._clients.pop(client_id, None) is not None

    def _sweep_clients(self) -> None:
        now = self._clock()
        for client_id in [c for c in self._dynamic if self._clients[c].expired(now)]:
            self._dynamic.discard(client_id)
            del self._clients[client_id]

    async def add_dynamic_client(self, client: Client, *, limit: int) -> AddOutcome:
        self._sweep_clients()
        if len(self._dynamic) >= limit:
            return "full"
        if client.client_id in self._clients:
            return "taken"
        self._clients[client.client_id] = client
        self._dynamic.add(client.client_id)
        return "added"

    async def keep_client(self, client: Client) -> bool:
        stored = await self.get_client(client.client_id)
        if stored is None or not stored.dynamic:  # a client created in its place is not overwritten
            return False
        self._clients[client.client_id] = client
        return True

    async def put_document_client(self, client: Client, *, expires_at: float) -> None:
        self._documents.set(client.client_id, client, expires_at)

    async def get_document_client(self, client_id: str) -> Client | None:
        return self._documents.get(client_id)

    async def count_dynamic_clients(self) -> int:
        return len(self._dynamic)

    # -- authorization codes ---------------------------------------------------------------------
    async def put_code(self, family_id: str, code_digest: str, code: AuthorizationCode) -> None:
        self.list_grant(code.client_id, code.sub, (family_id, "c", code_digest), code.exp)
        self._codes.set((family_id, code_digest), code, code.exp)

    async def take_code(
        self, family_id: str, code_digest: str, *, replay_window: float
    ) -> AuthorizationCode | CodeReplayed | None:
        spent = self._spend_code(family_id, code_digest, replay_window, "")
        return CodeReplayed() if spent == "replayed" else spent if isinstance(spent, AuthorizationCode) else None

    def _spend_code(
        self, family_id: str, code_digest: str, replay_window: float, redemption: str
    ) -> AuthorizationCode | Literal["again", "replayed"] | None:
        """As lua/spend_code_fn.lua: mark the code spent, tell a replay (revoking) from a repeat of ``redemption``."""
        key = (family_id, code_digest)
        state = self._codes.get(key)
        if state is None:
            return None
        if redemption and state == f"spent:{redemption}":
            return "again"
        expires_at = self._clock() + replay_window
        if isinstance(state, str):
            self._codes.set(key, "replayed", expires_at)
            self._drop_family(family_id)
            return "replayed"
        self._codes.set(key, f"spent:{redemption}" if redemption else "spent", expires_at)
        return state

    async def get_code(self, family_id: str, code_digest: str) -> AuthorizationCode | None:
        state = self._codes.get((family_id, code_digest))
        return state if isinstance(state, AuthorizationCode) else None

    async def redeem_code(
        self,
        family_id: str,
        code_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
        *,
        replay_window: float,
    ) -> Outcome:
        spent = self._spend_code(family_id, code_digest, replay_window, access_digest)
        if spent is None:
            return Outcome.MISSING
        if spent == "replayed":
            return Outcome.REUSED
        if spent == "again":
            return Outcome.DONE
        self.issue(family_id, access_digest, access, family)
        return Outcome.DONE

    def issue(self, family_id: str, access_digest: str, access: AccessToken, family: TokenFamily | None) -> None:
        """Store what a redemption issues (an access token, and its family when refresh tokens come too), listed
        under its owners; synchronous, so a feature's memory part stores it in the same step as its own change."""
        if family is not None:
            self._families.set(family_id, family, family.exp)
        self.list_grant(access.client_id, access.sub, (family_id, "", ""), family.exp if family else access.exp)
        self._add_member(family.exp if family is not None else access.exp, family_id, access_digest, access)

    # -- tokens ----------------------------------------------------------------------------------
    async def put_access(self, family_id: str, access_digest: str, token: AccessToken) -> None:
        self.list_grant(token.client_id, token.sub, (family_id, "a", access_digest), token.exp)
        self._access.set((family_id, access_digest), token, token.exp)

    async def put_exchanged(
        self, family_id: str, access_digest: str, token: AccessToken, *, subject_digest: str
    ) -> bool:
        subject = self._access.get((family_id, subject_digest))
        if subject is None:
            return False
        await self.put_access(family_id, access_digest, token)
        exchanged = self._exchanged.get((family_id, subject_digest))
        if exchanged is None:
            self._exchanged.set((family_id, subject_digest), exchanged := set(), subject.exp)
        exchanged.add(access_digest)
        members = self._members.get(family_id)
        if members is not None:  # the subject's family: revoking it ends this token as it ends its own
            members.add(access_digest)
        return True

    async def put_family(
        self,
        family_id: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> None:
        self._families.set(family_id, family, family.exp)
        self.list_grant(family.client_id, family.sub, (family_id, "", ""), family.exp)
        self._add_member(family.exp, family_id, access_digest, access)

    async def get_access(self, family_id: str, access_digest: str) -> AccessToken | None:
        return self._access.get((family_id, access_digest))

    async def lookup(
        self, family_id: str, *, access_digest: str | None = None, refresh_digest: str | None = None
    ) -> TokenLookup:
        family = self._families.get(family_id)
        access = self._access.get((family_id, access_digest)) if access_digest is not None else None
        spent = refresh_digest is not None and self._spent.get((family_id, refresh_digest)) is not None
        return TokenLookup(access=access, family=family, refresh_spent=spent)

    async def rotate_refresh(
        self,
        family_id: str,
        current_digest: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> Outcome:
        current = self._families.get(family_id)
        if current is None:
            return Outcome.MISSING
        if current.refresh_digest == family.refresh_digest:
            return Outcome.DONE  # this very rotation already happened
        if current.refresh_digest != current_digest:
            self._drop_family(family_id)
            return Outcome.REUSED
        self._spent.set((family_id, current_digest), True, current.exp)
        self._families.set(family_id, family, family.exp)
        self.list_grant(family.client_id, family.sub, (family_id, "", ""), family.exp)
        self._add_member(family.exp, family_id, access_digest, access)
        return Outcome.DONE

    async def revoke_family(self, family_id: str, *, client_id: str | None = None) -> bool:
        family = self._families.get(family_id)
        if family is None or (client_id is not None and family.client_id != client_id):
            return False
        self._drop_family(family_id)
        return True

    async def revoke_access(self, family_id: str, access_digest: str, *, client_id: str) -> bool:
        token = self._access.get((family_id, access_digest))
        if token is None or token.client_id != client_id:
            return False
        self._end_access(family_id, access_digest)
        return True

    def _end_access(self, family_id: str, access_digest: str) -> bool:
        """As lua/exchanged_fn.lua: end an access token and, transitively, what was exchanged for it."""
        ended = self._access.pop((family_id, access_digest)) is not None
        pending = [access_digest]
        while pending:
            for digest in self._exchanged.pop((family_id, pending.pop())) or ():
                self._access.pop((family_id, digest))
                pending.append(digest)
        return ended

    def _add_member(self, listed_until: float, family_id: str, access_digest: str, access: AccessToken) -> None:
        self._access.set((family_id, access_digest), access, access.exp)
        # Members that expired on their own are dropped, so a long-lived family's set stays small.
        members = {d for d in self._members.get(family_id) or () if self._access.get((family_id, d)) is not None}
        members.add(access_digest)
        self._members.set(family_id, members, listed_until)

    def _drop_family(self, family_id: str) -> bool:
        family = self._families.pop(family_id)
        members = self._members.pop(family_id)
        for digest in members or ():
            self._access.pop((family_id, digest))
        return family is not None or members is not None

    # -- owner indexes: everything of a user or a client -------------------------------------------
    def on_revoke(self, kind: str, end: Callable[[str, str], object]) -> None:
        """Have revoking an owner call ``end(family_id, digest)`` for each member of a feature's ``kind`` (one
        letter, not ``a`` or ``c``) listed with :meth:`list_grant`."""
        if kind in ("", "a", "c") or len(kind) != 1:
            raise ValueError(f"grant kind {kind!r} is the core's or not one letter")
        self._enders[kind] = end

    def list_grant(self, client_id: str, sub: str | None, member: _Member, expires_at: float) -> None:
        """As lua/listing_fn.lua's list_grant: list ``member`` (family id, kind, digest) in its client's and its
        user's index until ``expires_at``."""
        now = self._clock()
        owners = [("client", client_id)] if sub is None else [("client", client_id), ("user", sub)]
        for owner in owners:
            held = self._owners.get(owner)
            fresh = held is None
            if held is None:
                held = _Holdings()
            grows = expires_at > held.latest
            held.add(member, expires_at, now)
            if fresh or grows:  # kept as long as its longest-lived member
                self._owners.set(owner, held, held.latest)

    def _revoke_owner(self, owner: tuple[str, str]) -> int:
        """As lua/revoke_grants.lua: end every member; count the families and lone tokens that still lived."""
        ended = 0
        held = self._owners.pop(owner)
        for family_id, kind, digest in held.members if held is not None else ():
            if kind == "":
                ended += self._drop_family(family_id)
            elif kind == "a":
                ended += self._end_access(family_id, digest)
            elif kind in self._enders:
                self._enders[kind](family_id, digest)
        return ended

    async def revoke_user(self, sub: str) -> int:
        return self._revoke_owner(("user", sub))

    async def revoke_client(self, client_id: str) -> int:
        return self._revoke_owner(("client", client_id))

    # -- consents --------------------------------------------------------------------------------
    async def put_consent(self, sub: str, client_id: str, scope: str, *, expires_at: float) -> None:
        self._consents.set((sub, client_id), scope, expires_at)

    async def get_consent(self, sub: str, client_id: str) -> str | None:
        return self._consents.get((sub, client_id))

    async def delete_consent(self, sub: str, client_id: str) -> bool:
        return self._consents.pop((sub, client_id)) is not None

    # -- single-use values -----------------------------------------------------------------------
    async def claim_once(self, name: str, *, expires_at: float) -> bool:
        if self._claimed.get(name) is not None:
            return False
        self._claimed.set(name, True, expires_at)
        return True

    # -- failed attempts (rate limiting) ---------------------------------------------------------
    def _applicable(self, buckets: Sequence[Bucket], known: str) -> tuple[list[Bucket], bool]:
        is_known = self._known.get(known) is not None
        return [b for b in buckets if not (is_known and b.waived_if_known)], is_known

    def _recent(self, bucket: Bucket) -> list[float]:
        cutoff = self._clock() - bucket.window
        return [t for t in self._failures.get(bucket.key) or () if t > cutoff]

    def _blocked_for(self, buckets: list[Bucket]) -> float:
        waits = [0.0]
        for bucket in buckets:
            recent = self._recent(bucket)
            if len(recent) >= bucket.limit:
                waits.append(max(0.001, recent[0] + bucket.window - self._clock()))
        return max(waits)

    async def check_limits(self, buckets: Sequence[Bucket], *, known: str) -> LimitCheck:
        applicable, is_known = self._applicable(buckets, known)
        return LimitCheck(blocked_for=self._blocked_for(applicable), known=is_known)

    async def record_failure(self, buckets: Sequence[Bucket], *, known: str) -> float:
        applicable, _ = self._applicable(buckets, known)
        for bucket in applicable:
            recent = self._recent(bucket)
            if len(recent) < bucket.limit:
                now = self._clock()
                # Kept one window past the newest failure, as Redis' PEXPIRE does; expired keys are swept.
                self._failures.set(bucket.key, [*recent, now], now + bucket.window)
        return self._blocked_for(applicable)

    async def remember_known(self, known: str, *, expires_at: float) -> None:
        self._known.set(known, True, expires_at)

    # -- lifecycle -------------------------------------------------------------------------------
    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
