"""Failed-attempt limits for client authentication and sign-in, shared by all workers through the store.

An attempt is a *principal* (a user name or a client id) trying a secret from a *place*: the sender's
address, or a device that proved itself before (a signed cookie, :mod:`asgi_oauth.known_devices`). Failures
are counted in three sliding windows, all in one store round trip:

* the pair (principal, place): the tight limit. Guessing alice from one address stops that address
  guessing alice; alice elsewhere, and bob at that address, are untouched;
* the address, for any principals: a much higher limit against credential stuffing across many names;
* the principal, from any unproven place: bounds guessing spread over many addresses. It never refuses
  the principal where it signed in before: from a known device, or from an address it succeeded from
  within ``known_device_lifetime`` (the store remembers those).

A known device's attempts count only on its own pair, so a stolen device cookie buys no more guesses than
one address has. A full window is not added to, so attempts refused at the limit cost nothing more and
never extend the block. A limit of N lets N attempts fail, each answered as a failure; the next one is refused.
Secrets a person chose (passwords, configured client secrets) are checked against the limits *before* they
are verified, so a blocked place cannot keep guessing. Generated 256-bit client secrets are not (guessing
them is hopeless, and the check would cost every token request a round trip): only a failed one is checked,
then counted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .. import crypto
from ..errors import TooManyAttempts
from ..models import Bucket
from ..operations.events import Events
from ..settings import OAuthSettings
from ..store.base import Store
from ..types import Clock


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who tries a secret (``user:<name>`` or ``client:<id>``), from which address, on which known device."""

    principal: str
    address: str | None
    #: The device id a valid known-device cookie of this principal carries; ``None`` for an unproven browser.
    device: str | None = None

    @classmethod
    def user(cls, username: str, address: str | None, device: str | None = None) -> Attempt:
        return cls(f"user:{username}", address, device)

    @classmethod
    def client(cls, client_id: str, address: str | None) -> Attempt:
        return cls(f"client:{client_id}", address)

    @property
    def origin(self) -> str:
        """The sending address as a place (an ASGI server that gives none makes every such attempt one place)."""
        return f"address:{self.address or 'unknown'}"

    @property
    def place(self) -> str:
        """Where the attempt counts for its pair: the known device, else the address."""
        return f"device:{self.device}" if self.device is not None else self.origin


def _name(*parts: str) -> str:
    # Digested: user names and client ids are anyone's input, and must neither forge a separator nor grow keys.
    return crypto.digest("\0".join(parts), "limit")


@dataclass(frozen=True, slots=True)
class Policy:
    """The numbers, all from settings (see "Failed attempts" in the documentation for the reasoning)."""

    pair_limit: int = 10
    window: float = 300.0
    address_limit: int = 100
    principal_limit: int = 50
    principal_window: float = 3600.0
    known_lifetime: float = 30 * 86400.0

    @classmethod
    def from_settings(cls, settings: OAuthSettings) -> Policy:
        return cls(
            pair_limit=settings.rate_limit_failures,
            window=settings.rate_limit_window,
            address_limit=settings.rate_limit_address_failures,
            principal_limit=settings.rate_limit_principal_failures,
            principal_window=settings.rate_limit_principal_window,
            known_lifetime=settings.known_device_lifetime,
        )

    def buckets(self, attempt: Attempt) -> list[Bucket]:
        pair = Bucket(f"pair:{_name(attempt.principal, attempt.place)}", self.pair_limit, self.window)
        if attempt.device is not None:
            return [pair]
        return [
            pair,
            Bucket(f"address:{_name(attempt.origin)}", self.address_limit, self.window, waived_if_known=True),
            Bucket(
                f"principal:{_name(attempt.principal)}",
                self.principal_limit,
                self.principal_window,
                waived_if_known=True,
            ),
        ]

    @staticmethod
    def known_key(attempt: Attempt) -> str:
        """The store key that exists while the principal is known at the attempt's address."""
        return f"known:{_name(attempt.principal, attempt.origin)}"


class Limiter:
    """Applies a :class:`Policy` through the store; every method is one round trip, or none when switched off."""

    def __init__(self, store: Store, policy: Policy, *, clock: Clock = time.time, events: Events | None = None) -> None:
        self._store = store
        self.policy = policy
        self._clock = clock
        #: Where a refused attempt is reported (``throttled``, :mod:`asgi_oauth.operations.events`).
        self.events = events if events is not None else Events()

    @classmethod
    def from_settings(
        cls, store: Store, settings: OAuthSettings, *, clock: Clock = time.time, events: Events | None = None
    ) -> Limiter:
        return cls(store, Policy.from_settings(settings), clock=clock, events=events)

    @property
    def enabled(self) -> bool:
        return self.policy.pair_limit > 0

    async def check(self, attempt: Attempt) -> bool:
        """Raise :class:`TooManyAttempts` if the attempt is blocked now; else whether its address is known."""
        if not self.enabled:
            return False
        found = await self._store.check_limits(self.policy.buckets(attempt), known=self.policy.known_key(attempt))
        self._raise_if_blocked(found.blocked_for, attempt)
        return found.known

    async def failed(self, attempt: Attempt) -> None:
        """Count a failure. The attempt counted is answered as the failure it was, even when it fills a window:
        a limit of 10 lets 10 attempts fail, and :meth:`check` refuses the 11th."""
        if not self.enabled:
            return
        await self._store.record_failure(self.policy.buckets(attempt), known=self.policy.known_key(attempt))

    async def succeeded(self, attempt: Attempt, *, known: bool) -> None:
        """Remember the attempt's address as known to its principal (``known``: :meth:`check` said it already is)."""
        if not self.enabled or known:
            return
        expires_at = self._clock() + self.policy.known_lifetime
        await self._store.remember_known(self.policy.known_key(attempt), expires_at=expires_at)

    def _raise_if_blocked(self, wait: float, attempt: Attempt) -> None:
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            kind, _, name = attempt.principal.partition(":")
            self.events.emit(
                "throttled",
                client_id=name if kind == "client" else None,
                user=name if kind == "user" else None,
                address=attempt.address,
                count=retry_after,
            )
            raise TooManyAttempts(retry_after)
