"""A client's side of ``private_key_jwt``: key pairs, their public JWKs, and assertions signed with them.

Signed with PyJWT directly (not through anything of ``asgi_oauth``), so what the server accepts is what any
JOSE library would produce; the tests that use an outside client as the judge use Authlib and openid-client.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from asgi_oauth.crypto import b64url
from asgi_oauth.features.assertions import ASSERTION_TYPE

AUDIENCE = "https://auth.example.test/oauth"


@dataclass(frozen=True)
class Signer:
    """One key pair of a client: the private key it signs with and the public JWK it registers."""

    alg: str
    private: Any
    kid: str

    @classmethod
    def new(cls, alg: str = "RS256", kid: str | None = None) -> Signer:
        private: Any
        if alg.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)
        return cls(alg, private, kid or secrets.token_urlsafe(8))

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg.startswith(("RS", "PS")):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg == "ES256":
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig"}

    @property
    def pem(self) -> bytes:
        """The private key as PKCS#8 PEM, the way Authlib and the mcp SDK take it."""
        raw = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return bytes(raw)

    def jwks(self, *more: Signer) -> dict[str, Any]:
        return {"keys": [self.jwk, *(signer.jwk for signer in more)]}

    def assertion(
        self, issuer: str, *, audience: str | list[str] = AUDIENCE, typ: str | None = None, **claims: Any
    ) -> str:
        """A fresh assertion by ``issuer`` (a client id, or an identity provider) about itself; ``claims`` override
        or (as ``None``) drop claims."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": issuer,
            "sub": issuer,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        header = {"kid": self.kid} if typ is None else {"kid": self.kid, "typ": typ}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=header)


def id_jag(idp: Signer, issuer: str, *, user: str = "alice", client_id: str = "agent", **claims: Any) -> str:
    """An Identity Assertion JWT Authorization Grant that ``idp`` (as ``issuer``) signed for ``user`` and a client."""
    return idp.assertion(issuer, typ="oauth-id-jag+jwt", **{"sub": user, "client_id": client_id, **claims})


def form(assertion: str, **params: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **params}


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A JWT with ``alg: none``-style freedom: any header and claims, and an empty signature."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."
