"""What the protocol needs from storage: a few atomic verbs, not CRUD.

Every verb that must not race (take a code, rotate a refresh token, revoke a family) is one atomic
step in the store, so two workers can never both win. Keys that one verb touches share the token
family id, which the Redis store uses as the Cluster hash tag.

Times are absolute epoch seconds inside the records; each store derives an entry's lifetime from them
with its own clock (``time.time`` unless one is injected).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

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

#: What :meth:`ClientStore.add_dynamic_client` did.
AddOutcome = Literal["added", "taken", "full"]


class StoreUnavailable(Exception):
    """The backing store could not be reached or timed out; callers answer 503 and change nothing."""


@runtime_checkable
class ClientStore(Protocol):
    """Registered clients."""

    async def create_client(self, client: Client) -> bool:
        """Store ``client`` unless its id is taken; ``False`` when it is."""

    async def get_client(self, client_id: str) -> Client | None:
        """The client, or ``None`` when unknown or past its :attr:`~asgi_oauth.models.Client.expires_at`.
        One round trip: the token endpoint's hot path."""

    async def list_clients(self) -> list[Client]:
        """All live clients, sorted by client_id."""

    async def delete_client(self, client_id: str) -> bool: ...

    # -- dynamically registered clients (RFC 7591)
    async def add_dynamic_client(self, client: Client, *, limit: int) -> AddOutcome:
        """Store a dynamic client unless ``limit`` dynamic clients already live (``"full"``) or its id is taken
        (``"taken"``); ``"added"`` otherwise. Expired clients are removed first, and until its
        ``expires_at`` the record is kept. One atomic step, so concurrent registrations never pass the cap."""

    async def keep_client(self, client: Client) -> bool:
        """Replace a dynamic client's record with ``client`` (the same client, now used: its
        ``unused_expires_at`` cleared), so it no longer expires unused; ``False`` when it is already gone, or the
        id now names a client that is not dynamic (deleted and created again: never overwritten)."""

    async def count_dynamic_clients(self) -> int:
        """How many dynamic clients are stored (expired ones not yet removed included); one cheap step."""

    # -- clients described by a Client ID Metadata Document
    async def put_document_client(self, client: Client, *, expires_at: float) -> None:
        """Keep the client a fetched metadata document described (its id is the document's URL) until
        ``expires_at``, so every worker uses it without fetching again; apart from registered clients."""

    async def get_document_client(self, client_id: str) -> Client | None:
        """The document client kept under ``client_id`` while it lives, else ``None``."""


@runtime_checkable
class TokenStore(Protocol):
    """Authorization codes, token families and access tokens: every verb that must not race is one atomic step."""

    # -- authorization codes
    async def put_code(self, family_id: str, code_digest: str, code: AuthorizationCode) -> None: ...

    async def get_code(self, family_id: str, code_digest: str) -> AuthorizationCode | None:
        """The code's record while it can still be redeemed; ``None`` when unknown, expired or spent."""

    async def take_code(
        self, family_id: str, code_digest: str, *, replay_window: float
    ) -> AuthorizationCode | CodeReplayed | None:
        """Spend a code without redeeming it (a failed exchange burns it). Taking a spent code is a replay:
        it revokes the family issued from the code and returns ``CodeReplayed``.

        The spent marker outlives the code by ``replay_window`` seconds so late replays are still caught.
        """

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
        """Spend a code and store what it issues (its first access token, and ``family`` when the client gets
        a refresh token) in one atomic step, so of any number of concurrent redemptions exactly one succeeds.

        ``MISSING`` and ``REUSED`` store nothing: the code is unknown or expired, or already spent, which is a
        replay and revokes the family issued from it, as :meth:`take_code` does. The same call run twice (a
        command resent after its reply was lost) answers ``DONE`` both times and stores once.
        """

    # -- tokens
    async def get_access(self, family_id: str, access_digest: str) -> AccessToken | None:
        """The access token stored under this digest: one round trip, the bearer middleware's only one.

        Revoking a family deletes its access tokens, so no family check is needed here.
        """

    async def put_access(self, family_id: str, access_digest: str, token: AccessToken) -> None:
        """Store a lone access token (no refresh family), e.g. from client_credentials."""

    async def put_exchanged(
        self, family_id: str, access_digest: str, token: AccessToken, *, subject_digest: str
    ) -> bool:
        """Store an access token exchanged (RFC 8693) for the access token ``subject_digest`` of the same family,
        only if that one still lives (``False``: nothing stored), so that no exchange outlives a revocation it
        raced. Ending the subject token (alone, with its family, or with everything of its owner) ends this one
        in the same step, and whatever was exchanged for this one in turn."""

    async def put_family(
        self,
        family_id: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> None:
        """Store a new family with its first access token, atomically."""

    async def lookup(
        self, family_id: str, *, access_digest: str | None = None, refresh_digest: str | None = None
    ) -> TokenLookup:
        """Everything known about a presented token in one round trip.

        ``access`` is ``None`` when unknown, expired or revoked (with its family or alone).
        ``family`` is returned whenever the family lives; ``refresh_spent`` when ``refresh_digest``
        names a refresh token of it that was already rotated away.
        """

    async def rotate_refresh(
        self,
        family_id: str,
        current_digest: str,
        family: TokenFamily,
        access_digest: str,
        access: AccessToken,
    ) -> Outcome:
        """Replace the family's refresh token with ``family`` (its new current one) and add an access token,
        if ``current_digest`` is still current: a compare-and-set. If it is not (a concurrent rotation won),
        the family is revoked: the loser presented a spent token, which RFC 9700 section 4.14.2 treats as
        reuse (``REUSED``). ``MISSING`` when the family is gone. A rotation that already happened (the same
        call resent after its reply was lost: ``family.refresh_digest`` is current) answers ``DONE`` again."""

    async def revoke_family(self, family_id: str, *, client_id: str | None = None) -> bool:
        """Delete the family (so its access tokens stop validating); only if owned by ``client_id`` when given."""

    async def revoke_access(self, family_id: str, access_digest: str, *, client_id: str) -> bool:
        """Delete one access token if ``client_id`` owns it, with what was exchanged for it (:meth:`put_exchanged`)."""

    # -- everything of a user or a client
    async def revoke_user(self, sub: str) -> int:
        """End every grant of the user ``sub`` in one step: each refresh family with its access tokens, each lone
        access token, and each authorization code not yet redeemed. Returns how many families and lone access
        tokens still lived. Every verb that stores a grant lists it under its user and its client for this.

        The Redis store announces each ended family and token, then ``user:<sub>``, on the revocation channel."""

    async def revoke_client(self, client_id: str) -> int:
        """As :meth:`revoke_user`, for everything issued to the client ``client_id`` (announced ``client:<id>``)."""


@runtime_checkable
class ConsentStore(Protocol):
    """Remembered consents and single-use values (consent-form nonces)."""

    async def put_consent(self, sub: str, client_id: str, scope: str, *, expires_at: float) -> None: ...

    async def get_consent(self, sub: str, client_id: str) -> str | None:
        """The remembered granted scope, or ``None``."""

    async def delete_consent(self, sub: str, client_id: str) -> bool: ...

    async def claim_once(self, name: str, *, expires_at: float) -> bool:
        """``True`` the first time ``name`` is claimed, ``False`` until ``expires_at`` (form nonces)."""


@runtime_checkable
class LimitStore(Protocol):
    """Failed-attempt windows and known places (:mod:`asgi_oauth.protocol.ratelimit`)."""

    async def check_limits(self, buckets: Sequence[Bucket], *, known: str) -> LimitCheck:
        """How long the attempt is blocked by any of ``buckets`` (skipping those waived when the ``known`` key
        exists), and whether it exists; one round trip, nothing counted."""

    async def record_failure(self, buckets: Sequence[Bucket], *, known: str) -> float:
        """Count one failure in every applicable bucket (a full one stays full, so refused attempts cost
        nothing more); seconds the attempt is now blocked (0: not blocked). One atomic step."""

    async def remember_known(self, known: str, *, expires_at: float) -> None:
        """Mark the ``known`` key (a principal proved itself from a place) until ``expires_at``."""


@runtime_checkable
class CoreStore(ClientStore, TokenStore, ConsentStore, LimitStore, Protocol):
    """What every server needs, whatever is switched on: a third-party backend implementing only this starts a
    server with every feature off. Each feature checks its own store Protocol (:mod:`asgi_oauth.features`)."""

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` when the store cannot be reached."""

    async def aclose(self) -> None: ...


#: The store every part of the server takes: :class:`CoreStore` (the name type hints have always used).
Store = CoreStore
