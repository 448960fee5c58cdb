"""The device flow's data: what a device authorization is, the store Protocol that keeps it, and the memory part.

A device authorization is found by the device code's digest (under its family id, the Cluster hash tag) or by the
user code's digest (an index pointing at the former). Its approval is listed under its client and its user until
it expires, so revoking either before the device redeems it ends it (owner member kind ``d``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable

from ...models import AccessToken, Outcome, TokenFamily
from ...store.memory import Expiring, MemoryStore

__all__ = ["DeviceFound", "DeviceGrant", "DevicePoll", "DeviceStatus", "DeviceStore", "MemoryDevices"]

#: The owner index member kind of an approved device authorization not yet redeemed.
MEMBER_KIND = "d"

#: Where a device authorization (RFC 8628) stands: waiting for the user, decided, or its tokens issued.
DeviceStatus = Literal["pending", "approved", "denied", "issued"]


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    """A device authorization request (RFC 8628 section 3.1) from the moment it is made until its tokens are issued.

    The device polls with its ``device_code`` and the user approves with the ``user_code``; only digests of
    both are stored, as keys.
    """

    client_id: str
    scope: str
    #: When the device code stops working (epoch seconds); the record is kept a while longer so that a late
    #: poll is told ``expired_token`` rather than ``invalid_grant``.
    exp: float
    #: Seconds the device must wait between polls; each ``slow_down`` adds 5 (RFC 8628 section 3.5).
    interval: int
    resource: str | None = None
    status: DeviceStatus = "pending"
    #: The user who approved (or denied) it.
    sub: str | None = None
    username: str | None = None
    #: When the device last polled (epoch seconds), to tell a poll that came too soon.
    polled_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceFound:
    """A pending device authorization found by its user code: where it is stored, and what it asks for."""

    family_id: str
    device_digest: str
    grant: DeviceGrant


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """What one poll of a device code found: the grant as it now stands, and whether the poll came too soon
    (then the store has raised the grant's ``interval`` by the step it was given)."""

    grant: DeviceGrant
    too_soon: bool = False


@runtime_checkable
class DeviceStore(Protocol):
    """Device authorization requests (RFC 8628); a backend that keeps them itself implements this."""

    async def put_device(
        self, family_id: str, device_digest: str, user_code_digest: str, grant: DeviceGrant, *, keep_until: float
    ) -> bool:
        """Store a new pending grant and index it by ``user_code_digest`` until ``grant.exp``; ``False`` (and
        nothing stored) when that user code is already taken. The record itself is kept until ``keep_until``
        (past ``grant.exp``) so that a late poll can be told the code expired."""

    async def find_device(self, user_code_digest: str) -> DeviceFound | None:
        """The grant a user code names while the index lives (whatever its status), else ``None``."""

    async def poll_device(
        self, family_id: str, device_digest: str, *, client_id: str, step: int, leeway: float
    ) -> DevicePoll | None:
        """One poll by ``client_id``: the grant as it stands, ``None`` when unknown. A pending, unexpired grant
        of that client records the poll; a poll sooner than ``interval - leeway`` seconds after the previous one
        is ``too_soon`` and raises the interval by ``step`` seconds for good (RFC 8628 ``slow_down``). One
        atomic step, so concurrent polls are each counted."""

    async def decide_device(
        self, family_id: str, device_digest: str, *, approve: bool, sub: str, username: str | None
    ) -> bool:
        """Approve or deny a pending, unexpired grant as user ``sub``; ``False`` when it is gone, expired or
        already decided (the same decision made again answers ``True``). An approval is listed under the
        grant's client and user, so that revoking either (``revoke_user``, ``revoke_client``) ends it."""

    async def redeem_device(
        self,
        family_id: str,
        device_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
    ) -> Outcome:
        """Mark an approved grant issued and store its tokens (as the core's ``redeem_code`` does) in one
        atomic step, so of concurrent polls exactly one gets tokens. ``REUSED``: already issued by another
        redemption; ``MISSING``: gone, or not approved. The same call run twice answers ``DONE`` both times."""


class MemoryDevices:
    """The memory store's part: kept beside the :class:`~asgi_oauth.store.MemoryStore` whose tokens it issues.

    Each verb runs without an ``await``, so it is atomic with the store's own verbs on one event loop.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._clock = store.clock
        # Grants by (family id, device digest), with the access digest they issued; and the user code index.
        self._devices: Expiring[tuple[str, str], tuple[DeviceGrant, str]] = Expiring(store.clock)
        self._user_codes: Expiring[str, tuple[str, str]] = Expiring(store.clock)
        store.on_revoke(MEMBER_KIND, lambda family_id, digest: self._devices.pop((family_id, digest)))

    async def put_device(
        self, family_id: str, device_digest: str, user_code_digest: str, grant: DeviceGrant, *, keep_until: float
    ) -> bool:
        if self._user_codes.get(user_code_digest) is not None:
            return False
        self._user_codes.set(user_code_digest, (family_id, device_digest), grant.exp)
        self._devices.set((family_id, device_digest), (grant, ""), keep_until)
        return True

    async def find_device(self, user_code_digest: str) -> DeviceFound | None:
        where = self._user_codes.get(user_code_digest)
        stored = self._devices.get(where) if where is not None else None
        if where is None or stored is None:
            return None
        return DeviceFound(where[0], where[1], stored[0])

    def _device(self, family_id: str, device_digest: str) -> tuple[DeviceGrant, str, float] | None:
        """The stored grant, the access digest it issued, and until when it is kept."""
        entry = self._devices.entry((family_id, device_digest))
        if entry is None:
            return None
        (grant, issued), keep_until = entry
        return grant, issued, keep_until

    async def poll_device(
        self, family_id: str, device_digest: str, *, client_id: str, step: int, leeway: float
    ) -> DevicePoll | None:
        found = self._device(family_id, device_digest)
        if found is None:
            return None
        grant, issued, keep_until = found
        now = self._clock()
        if grant.client_id != client_id or grant.status != "pending" or grant.exp <= now:
            return DevicePoll(grant)
        too_soon = grant.polled_at is not None and now - grant.polled_at < grant.interval - leeway
        grant = replace(grant, polled_at=now, interval=grant.interval + step if too_soon else grant.interval)
        self._devices.set((family_id, device_digest), (grant, issued), keep_until)
        return DevicePoll(grant, too_soon)

    async def decide_device(
        self, family_id: str, device_digest: str, *, approve: bool, sub: str, username: str | None
    ) -> bool:
        found = self._device(family_id, device_digest)
        if found is None:
            return False
        grant, issued, keep_until = found
        status: DeviceStatus = "approved" if approve else "denied"
        if grant.status == status and grant.sub == sub:
            return True  # the same decision again
        if grant.status != "pending" or grant.exp <= self._clock():
            return False
        decided = replace(grant, status=status, sub=sub, username=username)
        self._devices.set((family_id, device_digest), (decided, issued), keep_until)
        if approve:  # as lua/decide.lua: revoking the user or the client before redemption ends it
            self._store.list_grant(grant.client_id, sub, (family_id, MEMBER_KIND, device_digest), grant.exp)
        return True

    async def redeem_device(
        self,
        family_id: str,
        device_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
    ) -> Outcome:
        found = self._device(family_id, device_digest)
        if found is None:
            return Outcome.MISSING
        grant, issued, keep_until = found
        if grant.status == "issued":
            return Outcome.DONE if issued == access_digest else Outcome.REUSED
        if grant.status != "approved":
            return Outcome.MISSING
        self._devices.set((family_id, device_digest), (replace(grant, status="issued"), access_digest), keep_until)
        self._store.issue(family_id, access_digest, access, family)
        return Outcome.DONE
