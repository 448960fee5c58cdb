"""The Redis store's part of the device flow, built on :class:`~asgi_oauth.store.redis.RedisParts`.

    p:{F}:d:<digest>     hash    a device authorization: record, status, user, interval, last poll, TTL = device
                                 code expiry + the lifetime again (to answer expired_token)
    p:usercode:<digest>  string  "<F>:<device digest>" of the grant a user code names, TTL = code expiry

An approval is listed under its client and its user (member ``F:d:<digest>``), so revoking either deletes the
hash; redeeming stores the tokens in the same script that marks the grant issued.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from ...models import AccessToken, Outcome, TokenFamily
from ...store.records import ArrayRecord
from ...store.redis import RedisParts
from .store import MEMBER_KIND, DeviceFound, DeviceGrant, DevicePoll, DeviceStatus

__all__ = ["RedisDevices"]

#: What a device authorization asks for; its changing state (status, user, interval, last poll) is kept beside
#: it in the same hash, so a script updates one field without re-encoding the record.
DEVICE_RECORD = ArrayRecord("DEVICE", DeviceGrant, only=("client_id", "scope", "exp", "resource"))

_FIELDS = ("grant", "status", "interval", "polled", "sub", "username")
_STATUSES: dict[str, DeviceStatus] = {s: s for s in ("pending", "approved", "denied", "issued")}


def _source(name: str) -> str:
    return (files(__package__) / "lua" / f"{name}.lua").read_text("utf-8")


def _decode(values: Sequence[Any]) -> DeviceGrant:
    """A device grant from its hash's ``_FIELDS``, in that order."""
    record, status, interval, polled, sub, username = (v.decode() if isinstance(v, bytes) else v for v in values)
    if status not in _STATUSES:
        raise ValueError(f"unknown device grant status {status!r}")
    return DeviceGrant(
        **DEVICE_RECORD.unpack_fields(record),
        interval=int(interval),
        status=_STATUSES[status],
        sub=sub,
        username=username,
        polled_at=None if polled is None else int(polled) / 1000,
    )


class RedisDevices:
    """Device authorizations in the server's Redis (``parts`` is :meth:`~asgi_oauth.store.RedisStore.parts`)."""

    def __init__(self, parts: RedisParts) -> None:
        self._parts = parts
        layouts = (DEVICE_RECORD.layout,)
        self._put = parts.script(_source("put"), layouts=layouts)
        # Each poll carries an id, so a resent one answers as it did instead of counting twice (a slow_down).
        self._poll = parts.script(_source("poll"), layouts=layouts)
        self._decide = parts.script(_source("decide"), helpers=("listing_fn",), layouts=layouts)
        self._redeem = parts.script(_source("redeem"), helpers=("store_family_fn", "listing_fn"), layouts=layouts)

    def _key(self, family_id: str, device_digest: str) -> str:
        return self._parts.member_key(family_id, MEMBER_KIND, device_digest)

    async def put_device(
        self, family_id: str, device_digest: str, user_code_digest: str, grant: DeviceGrant, *, keep_until: float
    ) -> bool:
        parts = self._parts
        # The index first: a user code already taken stores nothing. It is another slot than the grant's.
        where = f"{family_id}:{device_digest}"
        if not await parts.claim(parts.key(f"usercode:{user_code_digest}"), where, expires_at=grant.exp):
            return False
        args: list[str | int] = [DEVICE_RECORD.pack(grant), grant.interval, parts.ttl_ms(keep_until)]
        await parts.run(self._put(keys=[self._key(family_id, device_digest)], args=args))
        return True

    async def find_device(self, user_code_digest: str) -> DeviceFound | None:
        parts = self._parts
        raw: bytes | None = await parts.run(parts.command("GET", parts.key(f"usercode:{user_code_digest}")))
        if raw is None:
            return None
        family_id, _, device_digest = raw.decode().partition(":")
        values = await parts.run(parts.command("HMGET", self._key(family_id, device_digest), *_FIELDS))
        return None if values[0] is None else DeviceFound(family_id, device_digest, _decode(values))

    async def poll_device(
        self, family_id: str, device_digest: str, *, client_id: str, step: int, leeway: float
    ) -> DevicePoll | None:
        parts = self._parts
        args: list[str | int] = [parts.now_ms(), client_id, step, round(leeway * 1000), secrets.token_urlsafe(12)]
        reply = await parts.run(self._poll(keys=[self._key(family_id, device_digest)], args=args))
        if reply is None:
            return None
        return DevicePoll(_decode(reply[:6]), bool(int(reply[6])))

    async def decide_device(
        self, family_id: str, device_digest: str, *, approve: bool, sub: str, username: str | None
    ) -> bool:
        parts = self._parts
        args: list[str | int] = [parts.now_ms(), "approved" if approve else "denied", sub, username or ""]
        keys = [self._key(family_id, device_digest)]
        if not approve:
            return bool(await parts.run(self._decide(keys=keys, args=args)))
        # An approval is listed under its client and its user until it expires (read first: the record names
        # the client), so that revoking either before the device redeems it ends it.
        values = await parts.run(parts.command("HMGET", keys[0], *_FIELDS))
        if values[0] is None:
            return False
        grant = _decode(values)
        member = parts.member(family_id, MEMBER_KIND, device_digest)
        owners = parts.owners(grant.client_id, sub)
        return bool(await parts.listed(self._decide, keys, args, owners, member, grant.exp))

    async def redeem_device(
        self,
        family_id: str,
        device_digest: str,
        access_digest: str,
        access: AccessToken,
        family: TokenFamily | None,
    ) -> Outcome:
        parts = self._parts
        keys = [self._key(family_id, device_digest), *parts.family_keys(family_id, access_digest)]
        args = parts.family_args(family, access_digest, access)
        owners = parts.owners(access.client_id, access.sub)  # so revoking the user or the client ends them too
        expires = access.exp if family is None else family.exp
        return parts.outcome(await parts.listed(self._redeem, keys, args, owners, family_id, expires))
