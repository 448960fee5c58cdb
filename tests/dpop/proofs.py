"""A DPoP client's side: a key pair, its public JWK, and proofs signed with it.

Signed with PyJWT and ``cryptography`` directly (nothing of ``asgi_oauth``), so what the checks accept is what
any JOSE library would send.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from asgi_oauth.crypto import b64url

_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


@dataclass(frozen=True)
class ProofKey:
    """One client key pair and the algorithm it signs proofs with."""

    alg: str
    private: Any

    @classmethod
    def new(cls, alg: str = "ES256", *, rsa_bits: int = 2048) -> ProofKey:
        private: Any
        if alg.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        elif alg in _CURVES:
            private = ec.generate_private_key(_CURVES[alg])
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)
        return cls(alg, private)

    @property
    def jwk(self) -> dict[str, Any]:
        """The public key as a proof's header carries it."""
        public = self.private.public_key()
        if self.alg.startswith(("RS", "PS")):
            return dict(RSAAlgorithm.to_jwk(public, as_dict=True))
        if self.alg in _CURVES:
            return dict(ECAlgorithm.to_jwk(public, as_dict=True))
        return dict(OKPAlgorithm.to_jwk(public, as_dict=True))

    def proof(
        self,
        method: str,
        url: str,
        *,
        ath: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        typ: str | None = "dpop+jwt",
        extra_header: dict[str, Any] | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A proof for a ``method`` request to ``url``; ``extra_claims`` set (or, as ``None``, drop) claims, and
        ``extra_header`` header parameters (``typ=None`` leaves ``typ`` out)."""
        claims: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if ath is not None:
            claims["ath"] = ath
        if nonce is not None:
            claims["nonce"] = nonce
        claims = {name: value for name, value in {**claims, **(extra_claims or {})}.items() if value is not None}
        header = {"typ": typ, "jwk": self.jwk, **(extra_header or {})}  # PyJWT leaves out a typ of None
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=header)

    def signed(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A JWS of exactly ``header`` (members set to ``None`` left out) and ``claims``, signed with this key as
        its ``alg`` says, whatever else the header holds."""
        header = {name: value for name, value in header.items() if value is not None}
        signing_input = f"{part(header)}.{part(claims)}"
        algorithm = jwt.PyJWS().get_algorithm_by_name(self.alg)
        signature = algorithm.sign(signing_input.encode(), self.private)
        return f"{signing_input}.{b64url(signature)}"


def part(value: Any) -> str:
    """``value`` as a JWS header or payload: JSON, base64url."""
    return b64url(json.dumps(value).encode())
