"""Where trusted identity providers added by an operator are kept (``asgi-oauth issuers add``), for every worker.

Issuers configured in settings or code need no store; these come beside them, so trust is given and taken away
without a restart: a worker looks an issuer up in the store on each grant that names one it was not configured
with, so removing it takes effect at once everywhere.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .issuers import TrustedIssuer


@runtime_checkable
class TrustedIssuerStore(Protocol):
    """Trusted identity providers by their ``iss``."""

    async def put_issuer(self, issuer: TrustedIssuer) -> None:
        """Trust ``issuer`` (replacing what was kept under its ``iss``)."""

    async def get_issuer(self, issuer: str) -> TrustedIssuer | None: ...

    async def list_issuers(self) -> list[TrustedIssuer]: ...

    async def delete_issuer(self, issuer: str) -> bool:
        """Stop trusting ``issuer``; ``False`` when it was not kept."""


class MemoryTrustedIssuers:
    """The memory store's part: one process only, like :class:`~asgi_oauth.store.MemoryStore`."""

    def __init__(self) -> None:
        self._issuers: dict[str, TrustedIssuer] = {}

    async def put_issuer(self, issuer: TrustedIssuer) -> None:
        self._issuers[issuer.issuer] = issuer

    async def get_issuer(self, issuer: str) -> TrustedIssuer | None:
        return self._issuers.get(issuer)

    async def list_issuers(self) -> list[TrustedIssuer]:
        return sorted(self._issuers.values(), key=lambda trusted: trusted.issuer)

    async def delete_issuer(self, issuer: str) -> bool:
        return self._issuers.pop(issuer, None) is not None
