"""DPoP (RFC 9449) at the authorization server, without HTTP: what a token request's proof binds its tokens to,
and which codes and refresh tokens a request may use.

- **The proof** (the ``DPoP`` header, exactly one) is checked as section 4.3 asks (:mod:`.proof`) for ``POST`` and
  the token endpoint's URL as the metadata publishes it, its ``jti`` accepted once on every worker (the store's
  single-use claim, kept while its ``iat`` is acceptable), and, when nonces are on, the server's current nonce.
- **What it binds**: every token the request issues carries the key's thumbprint (``cnf.jkt`` in introspection
  and in JWT access tokens) and ``token_type`` is ``DPoP``; a refresh token of a public client is bound too
  (section 5: a public client's refresh token is only used with the same key), a confidential client's is not.
- **Who must**: a client registered with ``dpop_bound_access_tokens`` (RFC 9449 section 5.2) gets no token
  without a proof; a code requested with ``dpop_jkt`` (section 10) is redeemed only with that key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from ...dpop import jkt_of
from ...dpop.nonces import Nonces
from ...dpop.proof import NonceRequired, Proof, ProofRefused, verify_proof
from ...errors import InvalidGrant, InvalidRequest
from ...models import AuthorizationCode, Client, TokenFamily
from ...settings import OAuthSettings
from .. import Params
from .errors import InvalidDPoPProof, UseDPoPNonce
from .settings import DPoPSettings

#: RFC 9449 section 5.2: the client metadata saying every token request of the client carries a proof.
BOUND_METADATA = "dpop_bound_access_tokens"


def requires_proof(client: Client) -> bool:
    return client.extra.get(BOUND_METADATA) is True


def checked(
    proofs: list[str], *, url: str, now: float, settings: DPoPSettings, nonces: Nonces | None, client: Client
) -> Proof | None:
    """The token request's proof, checked (``None`` when it sent none and may send none)."""
    if not proofs:
        if requires_proof(client):
            raise InvalidDPoPProof("this client is registered with dpop_bound_access_tokens: send a DPoP proof")
        return None
    if len(proofs) > 1:
        raise InvalidDPoPProof("send exactly one DPoP header")
    try:
        return verify_proof(
            proofs[0],
            method="POST",
            url=url,
            now=now,
            algorithms=frozenset(settings.algorithms),
            leeway=settings.leeway,
            max_age=settings.proof_lifetime,
            nonce_valid=nonces.valid if nonces is not None else None,
        )
    except NonceRequired as refused:
        if nonces is None:  # the module raises it only when nonces are checked
            raise InvalidDPoPProof(str(refused)) from None
        raise UseDPoPNonce(str(refused), nonce=nonces.current()) from None
    except ProofRefused as refused:
        raise InvalidDPoPProof(str(refused)) from None


def replay_name(proof: Proof) -> str:
    """What the store remembers of a proof it accepted: its key and ``jti`` (section 11.1)."""
    return f"dpop:{proof.jkt}:{proof.jti}"


def check_grant(client: Client, issued: AuthorizationCode | TokenFamily, jkt: str | None) -> None:
    """A code asked for with ``dpop_jkt`` is redeemed only with that key; a public client's bound refresh token
    is used only with its key (sections 5 and 10)."""
    wanted = jkt_of(issued.extra)
    if wanted is None or wanted == jkt:
        return
    if isinstance(issued, AuthorizationCode):
        raise InvalidGrant("this code is bound to a DPoP key (dpop_jkt): send a proof signed with that key")
    if client.public:
        raise InvalidGrant("this refresh token is bound to a DPoP key: send a proof signed with that key")


class RequestedKey:
    """The ``dpop_jkt`` of an authorization request (section 10), carried through sign-in and consent."""

    def __init__(self, jkt: str) -> None:
        self.jkt = jkt

    def params(self) -> dict[str, str]:
        return {"dpop_jkt": self.jkt}

    def marks(self) -> dict[str, str]:
        return {}


#: A JWK SHA-256 thumbprint: 43 base64url characters.
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


def requested_jkt(params: Params) -> RequestedKey | None:
    """The key the client asked its code to be bound to, if it named one (``invalid_request`` if malformed)."""
    jkt = params.get("dpop_jkt")
    if jkt is None:
        return None
    if not _JKT.fullmatch(jkt):
        raise InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)")
    return RequestedKey(jkt)


def nonce_key(settings: OAuthSettings) -> bytes:
    """The key nonces are made with: derived from the current ``secret_key``, so every worker of one deployment
    makes and accepts the same nonces, and no other use of the key yields these bytes."""
    return hmac.new(settings.signing_keys[0].encode(), b"asgi_oauth dpop nonces v1", hashlib.sha256).digest()
