"""The Redis store's part of OpenID Connect: the generated key document at ``<prefix>:signing-keys``."""

from __future__ import annotations

from importlib.resources import files

from ...store.redis import RedisParts

__all__ = ["RedisSigningKeys"]


class RedisSigningKeys:
    """Generated signing keys in the server's Redis (``parts`` is :meth:`~asgi_oauth.store.RedisStore.parts`)."""

    def __init__(self, parts: RedisParts) -> None:
        self._parts = parts
        self._key = parts.key("signing-keys")
        self._swap = parts.script((files(__package__) / "lua" / "swap.lua").read_text("utf-8"))

    async def get_signing_keys(self) -> str | None:
        raw: bytes | None = await self._parts.run(self._parts.command("GET", self._key))
        return None if raw is None else raw.decode()

    async def swap_signing_keys(self, expected: str | None, document: str) -> bool:
        args: list[str | int] = ["" if expected is None else expected, document]
        return bool(await self._parts.run(self._swap(keys=[self._key], args=args)))
