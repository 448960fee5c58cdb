"""The Redis store's part of the JWT bearer grant: trusted issuers in one hash, ``<prefix>:assertion-issuers``
(field: the issuer's ``iss``; value: its configuration as JSON). One key, so a Cluster keeps it on one node."""

from __future__ import annotations

from ...store.redis import RedisParts
from .issuers import TrustedIssuer

__all__ = ["RedisTrustedIssuers"]


class RedisTrustedIssuers:
    """Trusted issuers in the server's Redis (``parts`` is :meth:`~asgi_oauth.store.RedisStore.parts`)."""

    def __init__(self, parts: RedisParts) -> None:
        self._parts = parts
        self._key = parts.key("assertion-issuers")

    async def put_issuer(self, issuer: TrustedIssuer) -> None:
        await self._parts.run(self._parts.command("HSET", self._key, issuer.issuer, issuer.model_dump_json()))

    async def get_issuer(self, issuer: str) -> TrustedIssuer | None:
        raw: bytes | None = await self._parts.run(self._parts.command("HGET", self._key, issuer))
        return None if raw is None else TrustedIssuer.model_validate_json(raw)

    async def list_issuers(self) -> list[TrustedIssuer]:
        kept: dict[bytes, bytes] | list[bytes] = await self._parts.run(self._parts.command("HGETALL", self._key))
        values = kept.values() if isinstance(kept, dict) else kept[1::2]  # the store's own path answers pairs
        return sorted((TrustedIssuer.model_validate_json(raw) for raw in values), key=lambda t: t.issuer)

    async def delete_issuer(self, issuer: str) -> bool:
        return bool(await self._parts.run(self._parts.command("HDEL", self._key, issuer)))
