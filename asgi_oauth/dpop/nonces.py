"""Server-provided DPoP nonces (RFC 9449 section 8) that every worker knows without a store.

A nonce is not drawn at random and remembered: it is an HMAC of the current period's number under the server's
key. Any worker (or any host) holding the same ``secret_key`` computes the same nonce for the same period, so a
client given a nonce by one worker is accepted by the next, and nothing is written per client or per request.

The nonce rotates every ``period`` seconds. The previous period's nonce is accepted too, so a client that was
just given one at the end of a period is not sent round again at the boundary: a nonce is accepted for at least
one period after it was handed out and at most two. One older than that is refused (``use_dpop_nonce``), so a
proof made with a captured nonce stops working within two periods, which is what a server nonce is for: it
bounds how long a pre-made proof can be used, whatever the client's clock says.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable

from ..crypto import b64url

#: Names what these MACs are for, so no other use of the same key can yield the same bytes.
_LABEL = b"asgi_oauth dpop nonce v1\x00"
#: Characters of a nonce: 16 bytes of the MAC, base64url (128 bits; all of them allowed by RFC 9449's NQCHAR).
NONCE_LENGTH = 22


class Nonces:
    """The current nonce for ``DPoP-Nonce`` headers, and whether a proof's nonce is still accepted."""

    __slots__ = ("_clock", "_key", "_period")

    def __init__(self, key: bytes, *, period: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        if not key:
            raise ValueError("DPoP nonces need a key: the server's secret_key, the same on every worker")
        if not period > 0:
            raise ValueError("the DPoP nonce period must be a positive number of seconds")
        self._key, self._period, self._clock = key, period, clock

    def current(self) -> str:
        """The nonce of this period: what a ``DPoP-Nonce`` header hands out."""
        return self._of(self._index())

    def valid(self, nonce: str) -> bool:
        """Whether ``nonce`` is this period's or the previous one's; both are always compared (in constant time),
        so how long the answer takes says nothing about which one, or how much of it, matched."""
        if not isinstance(nonce, str) or len(nonce) != NONCE_LENGTH:
            return False
        given = nonce.encode("utf-8", "surrogatepass")
        index = self._index()
        now = hmac.compare_digest(given, self._of(index).encode("ascii"))
        before = hmac.compare_digest(given, self._of(index - 1).encode("ascii"))
        return now | before

    def _index(self) -> int:
        return math.floor(self._clock() / self._period)

    def _of(self, index: int) -> str:
        mac = hmac.new(self._key, _LABEL + str(index).encode("ascii"), hashlib.sha256).digest()
        return b64url(mac[:16])
