"""Minting, hashing and comparing credentials.

Tokens and codes are ``<family>.<secret>``: the family id (128 random bits) names the refresh family
and doubles as the Redis Cluster hash tag, so every key one atomic operation touches shares a slot;
the secret carries 256 random bits. Only a digest of the whole value is ever stored.

Why a fast digest is right here: a server-generated 256-bit secret cannot be guessed, so slowing each
guess down (bcrypt, scrypt) buys nothing and costs every request. The digest is keyed per purpose
(access token, refresh token, code, client secret) for domain separation, not with ``SECRET_KEY``:
keying with a rotating secret would invalidate every live token on rotation. Secrets that a person
chose (clients declared in configuration) may be guessable, so those get scrypt with a random salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Literal

from .types import CodeChallengeMethod

Purpose = Literal["access", "refresh", "code", "client"]

_KEYS: dict[Purpose, bytes] = {
    "access": b"asgi_oauth/access-token/v1",
    "refresh": b"asgi_oauth/refresh-token/v1",
    "code": b"asgi_oauth/authorization-code/v1",
    "client": b"asgi_oauth/client-secret/v1",
}

#: Length of a family id as minted (16 bytes, base64url without padding).
FAMILY_ID_LENGTH = 22
#: Characters of the base64url digest kept as a storage key: 192 bits.
DIGEST_LENGTH = 32
_TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{FAMILY_ID_LENGTH}}}\.[A-Za-z0-9_-]{{43}}")

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_family_id() -> str:
    return secrets.token_urlsafe(16)


def new_token(family_id: str | None = None) -> tuple[str, str]:
    """Return ``(family_id, token)``; pass a family id to mint another member of that family."""
    family_id = family_id or new_family_id()
    return family_id, f"{family_id}.{secrets.token_urlsafe(32)}"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def family_of(token: str) -> str | None:
    """The family id of a well-formed token or code, else ``None`` (so junk never reaches the store)."""
    return token[:FAMILY_ID_LENGTH] if _TOKEN_SHAPE.fullmatch(token) else None


def digest(value: str, purpose: Purpose) -> str:
    mac = hmac.new(_KEYS[purpose], value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return _b64(mac)[:DIGEST_LENGTH]


def hash_secret(secret: str, *, generated: bool) -> str:
    """Tagged hash for a client secret: ``sha256$...`` for generated secrets, ``scrypt$salt$...`` otherwise."""
    if generated:
        return "sha256$" + digest(secret, "client")
    salt = secrets.token_bytes(16)
    raw = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_b64(salt)}${_b64(raw)}"


def verify_secret(secret: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    if scheme == "sha256":
        return hmac.compare_digest(digest(secret, "client"), rest)
    if scheme == "scrypt":
        salt_b64, _, want = rest.partition("$")
        salt = base64.urlsafe_b64decode(salt_b64 + "==")
        got = hashlib.scrypt(
            secret.encode("utf-8", "surrogatepass"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
        )
        return hmac.compare_digest(_b64(got), want)
    return False


def pkce_challenge(verifier: str, method: CodeChallengeMethod) -> str:
    if method == "plain":
        return verifier
    # RFC 7636 hashes ASCII(code_verifier); for ASCII input UTF-8 is the same bytes, and for anything
    # else (never a valid verifier) this must not raise.
    return _b64(hashlib.sha256(verifier.encode("utf-8", "surrogatepass")).digest())


def pkce_matches(verifier: str, challenge: str, method: CodeChallengeMethod) -> bool:
    # Compare bytes: hmac.compare_digest raises TypeError on str holding non-ASCII characters.
    got = pkce_challenge(verifier, method).encode("utf-8", "surrogatepass")
    return hmac.compare_digest(got, challenge.encode("utf-8", "surrogatepass"))
