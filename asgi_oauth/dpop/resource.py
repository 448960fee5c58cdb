"""DPoP (RFC 9449 section 7) at a protected resource: a DPoP-bound access token is accepted only with a proof,
made for this very request (method and URL) and this token (``ath``), signed with the key the token is bound
to (``cnf.jkt``); presented as a bearer token it is refused.

Replay (section 11.1): each worker remembers the ``jti`` of every proof it accepted while the proof's ``iat`` is
acceptable (``proof_lifetime``, 60 seconds by default, plus ``leeway``), in memory, so a protected route stays
answered from memory with no store round trip. A proof replayed to the same worker is refused; one replayed to
another worker within that window is not, which is the trade-off of a stateless resource server that the MCP DPoP
profile allows: the attacker must also have captured the request itself, within the window, for the same method
and URL. A deployment that wants every replay refused across workers passes ``replay=store`` (one store round
trip per proof: measured in ``benchmarks``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..algorithms import ASYMMETRIC, asymmetric_only
from ..asgi import Scope, header
from ..types import Clock
from .nonces import Nonces

if TYPE_CHECKING:
    from .proof import Proof

#: Most proofs one worker remembers: past it the oldest are forgotten first (a flood of valid proofs, each costing
#: the sender a signature, cannot make the worker refuse the next legitimate one).
REMEMBERED = 100_000


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a DPoP request is refused: RFC 9449's error code and words for the ``DPoP`` challenge, and the nonce to
    send back when the proof lacked it (``use_dpop_nonce``, section 9)."""

    error: str
    description: str
    nonce: str | None = None


class ResourceDPoP:
    """What a protected resource accepts of DPoP: pass one to ``BearerTokenMiddleware(dpop=...)``."""

    def __init__(
        self,
        *,
        algorithms: Sequence[str] = ASYMMETRIC,
        proof_lifetime: float = 60.0,
        leeway: float = 5.0,
        replay: Literal["memory", "store"] = "memory",
        claim_once: Callable[[str, float], Awaitable[bool]] | None = None,
        nonces: Nonces | None = None,
        clock: Clock = time.time,
    ) -> None:
        """``claim_once(name, expires_at)``: with ``replay="store"``, the store's single-use claim (every worker
        shares it), e.g. ``lambda name, at: store.claim_once(name, expires_at=at)``. ``nonces``: require the
        resource's nonce in every proof (RFC 9449 section 9), answering ``use_dpop_nonce`` with it when missing."""
        from . import proof  # here, not at the top: the middleware imports this module without the dpop extra

        #: The proof checks (a module needing PyJWT), kept to skip an import statement per request.
        self._proof = proof
        self.algorithms = frozenset(asymmetric_only(tuple(algorithms)))
        self.proof_lifetime = proof_lifetime
        self.leeway = leeway
        if replay == "store" and claim_once is None:
            raise ValueError("replay='store' needs claim_once, the store's single-use claim")
        self._claim_once = claim_once if replay == "store" else None
        self._clock = clock
        self._nonces = nonces
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        #: The ``algs`` of a ``DPoP`` challenge.
        self.algs = " ".join(sorted(self.algorithms))

    @property
    def answers_from_memory(self) -> bool:
        """Whether a proof is judged without the store (replays kept per worker): the middleware's synchronous
        success path can then take DPoP tokens too."""
        return self._claim_once is None

    def refusal_from_memory(self, proofs: list[str], *, method: str, url: str, token: str, jkt: str) -> Refusal | None:
        """:meth:`refusal` without a coroutine, when :attr:`answers_from_memory`: the proof is checked and its
        ``jti`` remembered by this worker."""
        now = self._clock()
        judged = self._judged(proofs, method=method, url=url, token=token, jkt=jkt, now=now)
        if isinstance(judged, Refusal):
            return judged
        if not self._first_use(judged.jkt, judged.jti, judged.acceptable_until(self.proof_lifetime, self.leeway), now):
            return _REPLAYED
        return None

    async def refusal(self, proofs: list[str], *, method: str, url: str, token: str, jkt: str) -> Refusal | None:
        """Why this request's proof does not let ``token`` (bound to ``jkt``) in, or ``None`` when it does."""
        if self._claim_once is None:
            return self.refusal_from_memory(proofs, method=method, url=url, token=token, jkt=jkt)
        judged = self._judged(proofs, method=method, url=url, token=token, jkt=jkt, now=self._clock())
        if isinstance(judged, Refusal):
            return judged
        expires_at = judged.acceptable_until(self.proof_lifetime, self.leeway)
        if not await self._claim_once(f"dpop-rs:{judged.jkt}:{judged.jti}", expires_at):
            return _REPLAYED
        return None

    def _judged(self, proofs: list[str], *, method: str, url: str, token: str, jkt: str, now: float) -> Proof | Refusal:
        """The request's one proof when it holds for this request, ``token`` and ``jkt``; else why not."""
        if len(proofs) != 1:
            return Refusal("invalid_dpop_proof", "send exactly one DPoP header with a DPoP-bound access token")
        checks = self._proof
        try:
            proof: Proof = checks.verify_proof(
                proofs[0],
                method=method,
                url=url,
                now=now,
                algorithms=self.algorithms,
                leeway=self.leeway,
                max_age=self.proof_lifetime,
                access_token=token,
                nonce_valid=self._nonces.valid if self._nonces is not None else None,
            )
        except checks.NonceRequired as refused:
            return Refusal("use_dpop_nonce", str(refused), self._nonces.current() if self._nonces else None)
        except checks.ProofRefused as refused:
            return Refusal("invalid_dpop_proof", str(refused))
        if proof.jkt != jkt:
            return Refusal("invalid_dpop_proof", "the proof is signed with another key than the token is bound to")
        return proof

    def _first_use(self, jkt: str, jti: str, expires_at: float, now: float) -> bool:
        seen = self._seen
        while seen:  # forget what can no longer be replayed (oldest first), and the oldest past the bound
            oldest, until = next(iter(seen.items()))
            if until > now and len(seen) < REMEMBERED:
                break
            del seen[oldest]
        name = (jkt, jti)
        if name in seen:
            return False
        seen[name] = expires_at
        return True


_REPLAYED = Refusal("invalid_dpop_proof", "this DPoP proof was used before: make a new one per request")


def request_url(scope: Scope) -> str:
    """The URL the request was sent to, as a proof's ``htu`` names it: scheme, ``Host`` and path (no query)."""
    host = header(scope, b"host")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    raw = scope.get("raw_path")  # as sent (the proof names it so), where ``path`` is percent-decoded
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "/")
    return f"{scope.get('scheme', 'http')}://{host}{path}"
