"""Where generated OpenID signing keys are kept: one opaque document every worker shares, swapped by
compare-and-set. Only used when no keys are configured; the document holds private keys, so such a store is for
demos and tests (configured keys never reach the store)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["KeyStore", "MemorySigningKeys"]


@runtime_checkable
class KeyStore(Protocol):
    """The OpenID provider's generated signing keys (:class:`~asgi_oauth.features.oidc.keys.KeyRing`)."""

    async def get_signing_keys(self) -> str | None:
        """The key document, or ``None`` when none was stored yet."""

    async def swap_signing_keys(self, expected: str | None, document: str) -> bool:
        """Store ``document`` if the stored one is still ``expected`` (``None``: none yet); a compare-and-set,
        so two workers generating or rotating at once agree on one result. ``False`` when another won."""


class MemorySigningKeys:
    """The memory store's part (one process: the document lives as long as the store)."""

    def __init__(self) -> None:
        self._document: str | None = None

    async def get_signing_keys(self) -> str | None:
        return self._document

    async def swap_signing_keys(self, expected: str | None, document: str) -> bool:
        if self._document not in (expected, document):
            return False
        self._document = document
        return True
