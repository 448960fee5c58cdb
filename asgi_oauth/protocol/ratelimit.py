"""Failed-attempt limits for client authentication and sign-in, shared by all workers through the store.

Every failure is counted per key (``client:<id>``, ``user:<name>``, ``peer:<address>``) in a sliding
window. Once a key reaches the limit, further failures answer 429 with ``Retry-After``. Attempts whose
secret a person chose (passwords, configured client secrets) are also checked *before* verifying, so a
blocked key cannot keep guessing; generated 256-bit client secrets are not, because guessing them is
hopeless and the check would cost every token request a store round trip.
"""

from __future__ import annotations

import math

from ..errors import TooManyAttempts
from ..settings import OAuthSettings
from ..store.base import Store


class Limiter:
    def __init__(self, store: Store, *, limit: int, window: float) -> None:
        self._store = store
        self.limit = limit
        self.window = window

    @classmethod
    def from_settings(cls, store: Store, settings: OAuthSettings) -> Limiter:
        return cls(store, limit=settings.rate_limit_failures, window=settings.rate_limit_window)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @staticmethod
    def keys(*, client_id: str | None = None, username: str | None = None, peer: str | None = None) -> list[str]:
        keys = []
        if client_id is not None:
            keys.append(f"client:{client_id}")
        if username is not None:
            keys.append(f"user:{username}")
        if peer is not None:
            keys.append(f"peer:{peer}")
        return keys

    async def check(self, keys: list[str]) -> None:
        """Raise :class:`TooManyAttempts` if any key is blocked now."""
        if not self.enabled:
            return
        waits = [await self._store.blocked_for(k, window=self.window, limit=self.limit) for k in keys]
        _raise_if_blocked(waits)

    async def failed(self, keys: list[str]) -> None:
        """Count a failure on every key; raise :class:`TooManyAttempts` if that reached the limit."""
        if not self.enabled:
            return
        waits = [await self._store.record_failure(k, window=self.window, limit=self.limit) for k in keys]
        _raise_if_blocked(waits)


def _raise_if_blocked(waits: list[float]) -> None:
    wait = max(waits, default=0.0)
    if wait > 0:
        raise TooManyAttempts(max(1, math.ceil(wait)))
