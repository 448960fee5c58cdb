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
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from typing import Literal

from .types import CodeChallengeMethod

Purpose = Literal["access", "refresh", "code", "client", "limit"]

_KEYS: dict[Purpose, bytes] = {
    "access": b"asgi_oauth/access-token/v1",
    "refresh": b"asgi_oauth/refresh-token/v1",
    "code": b"asgi_oauth/authorization-code/v1",
    "client": b"asgi_oauth/client-secret/v1",
    # Names in failed-attempt keys (user names, client ids, addresses): fixed length, no separators to forge.
    "limit": b"asgi_oauth/limit-key/v1",
}


def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hashes with the key's block already absorbed (RFC 2104), computed once:
    a digest then copies two hash states instead of keying an HMAC object per call (half the time)."""
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in block)), hashlib.sha256(bytes(b ^ 0x5C for b in block))


_PADS = {purpose: _pads(key) for purpose, key in _KEYS.items()}
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b2a = binascii.b2a_base64

#: Length of a family id as minted (16 bytes, base64url without padding).
FAMILY_ID_LENGTH = 22
#: Characters of the base64url digest kept as a storage key: 192 bits.
DIGEST_LENGTH = 32
_DIGEST_BYTES = DIGEST_LENGTH * 3 // 4
_TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{FAMILY_ID_LENGTH}}}\.[A-Za-z0-9_-]{{43}}")

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def b64url(raw: bytes) -> str:
    """base64url without padding (RFC 7515 section 2), as JOSE and tokens write bytes."""
    return _b2a(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")  # urlsafe_b64encode's bytes


def unb64url(text: str) -> bytes:
    """The bytes of base64url text, padded or not; :class:`ValueError` (``binascii.Error``) for anything else."""
    # What base64.urlsafe_b64decode does, without its per-call type checks (a proof decodes two parts per request).
    return binascii.a2b_base64((text + "=" * (-len(text) % 4)).replace("-", "+").replace("_", "/"))


def new_family_id() -> str:
    return secrets.token_urlsafe(16)


def new_client_id() -> str:
    """A generated client_id (128 bits) that never starts with ``-``.

    An id like ``-Ij3...`` reads as an option to argparse and to most shells' tools, so ``asgi-oauth clients delete``
    refused it; one draw in 64 started that way. Redrawing keeps every other id equally likely.
    """
    while (client_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return client_id


def new_token(family_id: str | None = None) -> tuple[str, str]:
    """Return ``(family_id, token)``; pass a family id to mint another member of that family."""
    if family_id is None:
        # One read of the OS generator for both parts: 49 bytes give 22 + 43 base64url characters (384+ bits).
        raw = b64url(os.urandom(49))
        family_id = raw[:FAMILY_ID_LENGTH]
        return family_id, f"{family_id}.{raw[FAMILY_ID_LENGTH : FAMILY_ID_LENGTH + 43]}"
    return family_id, f"{family_id}.{secrets.token_urlsafe(32)}"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def new_jti() -> str:
    """The random part of a JWT access token's ``jti`` (after its family id): 128 bits."""
    return secrets.token_urlsafe(16)


def family_of(token: str) -> str | None:
    """The family id of a well-formed token or code, else ``None`` (so junk never reaches the store).

    A JWT access token (RFC 9068, issued when OpenID Connect is on) names its family in its ``jti``. Its
    signature is not checked here and need not be: the store keeps the digest of the whole JWT, so an
    altered or forged one digests to nothing stored.
    """
    if _TOKEN_SHAPE.fullmatch(token):
        return token[:FAMILY_ID_LENGTH]
    return _jwt_family(token) if token.startswith("eyJ") else None


_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{1,2000}\.([A-Za-z0-9_-]{1,8000})\.[A-Za-z0-9_-]{1,2000}")
_JTI_FAMILY = re.compile(rf"([A-Za-z0-9_-]{{{FAMILY_ID_LENGTH}}})\.[A-Za-z0-9_-]{{16,64}}")


def _jwt_family(token: str) -> str | None:
    shape = _JWT_SHAPE.fullmatch(token)
    if shape is None:
        return None
    payload = shape.group(1)
    try:
        claims = json.loads(unb64url(payload))
    except (ValueError, RecursionError):  # junk, or JSON nested deeper than the parser goes
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    family = _JTI_FAMILY.fullmatch(jti) if isinstance(jti, str) else None
    return family.group(1) if family is not None else None


def digest(value: str, purpose: Purpose) -> str:
    """HMAC-SHA256 of ``value`` under the purpose's key, base64url, its first 192 bits (:data:`DIGEST_LENGTH`)."""
    inner_pad, outer_pad = _PADS[purpose]
    inner = inner_pad.copy()
    inner.update(value.encode("utf-8", "surrogatepass"))
    outer = outer_pad.copy()
    outer.update(inner.digest())
    # 24 bytes are exactly 32 base64 characters: no padding to strip, nothing to cut.
    return _b2a(outer.digest()[:_DIGEST_BYTES], newline=False).translate(_URLSAFE).decode("ascii")


#: Keys what a worker's validation cache files tokens under (:func:`memory_key`): drawn per process, never
#: stored or sent anywhere, so it changes with every restart, as the cache's contents do.
_MEMORY_HASH = hashlib.blake2b(key=secrets.token_bytes(32), digest_size=16)


def memory_key(token: str | bytes) -> bytes:
    """What a worker's validation cache files ``token`` under: keyed BLAKE2b-128, keyed per process.

    Not :func:`digest`, which stays HMAC-SHA256 so that every token already stored keeps validating: the
    cache is asked on every protected request, and this costs less than half of that (timed in
    ``benchmarks/PROFILE.md``).
    A token and its bytes as the header carries them give the same key. The cache never holds a token itself.
    """
    keyed = _MEMORY_HASH.copy()
    keyed.update(token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token)
    return keyed.digest()


def hash_secret(secret: str, *, generated: bool) -> str:
    """Tagged hash for a client secret: ``sha256$...`` for generated secrets, ``scrypt$salt$...`` otherwise."""
    if generated:
        return "sha256$" + digest(secret, "client")
    salt = secrets.token_bytes(16)
    raw = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${b64url(salt)}${b64url(raw)}"


def guessable(stored: str) -> bool:
    """Whether a stored secret was chosen by a person (scrypt) rather than generated by us."""
    return stored.startswith("scrypt$")


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
        return hmac.compare_digest(b64url(got), want)
    return False


def pkce_challenge(verifier: str, method: CodeChallengeMethod) -> str:
    if method == "plain":
        return verifier
    # RFC 7636 hashes ASCII(code_verifier); for ASCII input UTF-8 is the same bytes, and for anything
    # else (never a valid verifier) this must not raise.
    return b64url(hashlib.sha256(verifier.encode("utf-8", "surrogatepass")).digest())


def pkce_matches(verifier: str, challenge: str, method: CodeChallengeMethod) -> bool:
    # Compare bytes: hmac.compare_digest raises TypeError on str holding non-ASCII characters.
    got = pkce_challenge(verifier, method).encode("utf-8", "surrogatepass")
    return hmac.compare_digest(got, challenge.encode("utf-8", "surrogatepass"))
