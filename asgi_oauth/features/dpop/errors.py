"""DPoP's error codes (RFC 9449 sections 5, 7.1 and 8), as the token endpoint and the middleware answer them."""

from __future__ import annotations

from ...errors import OAuthError


class InvalidDPoPProof(OAuthError):
    """A missing, malformed, replayed or wrong proof (section 5: 400 at the token endpoint)."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """The proof lacks the server's current nonce; the answer's ``DPoP-Nonce`` header carries it (section 8)."""

    error = "use_dpop_nonce"

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description, headers={"DPoP-Nonce": nonce})
