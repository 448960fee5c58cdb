"""Checking a JWT assertion (RFC 7521, RFC 7523): the one place a signed claim set from outside is trusted.

Pure: no store, no HTTP. The caller finds the keys (:mod:`.keys`) and claims the ``jti`` (:mod:`.replay`); this
module says whether the assertion is one to accept, and why not. Times are checked here against the caller's
clock, not PyJWT's, so that a test moves time as the server sees it.

A client's registered keys are public: only asymmetric algorithms verify with them, and ``none`` is no signature.
The one symmetric key is a ``client_secret_jwt`` client's secret, derived by the server (:func:`derived_keys`),
never registered. A key may only verify the algorithm it was made for (its ``alg`` when it names one, else its
key type and curve), so an RSA key cannot be talked into checking an HMAC, nor a secret a signature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...crypto import unb64url
from ...extras import missing
from .names import ASYMMETRIC, SYMMETRIC, KeySetError

try:
    import jwt
except ModuleNotFoundError as exc:  # the assertions extra is not installed: say so, not just "no module jwt"
    raise (missing("JWT assertions (private_key_jwt)", "assertions") or exc) from None

#: An assertion longer than this is refused before it is parsed (a JWT of a few claims is well under 2 KB).
MAX_LENGTH = 8192
#: Keys tried for an assertion without a ``kid``: a key set may hold more, but a sender must then name one.
MAX_UNNAMED_TRIES = 4

#: PyJWT's implementation of each accepted algorithm (what checks a signature with a prepared key).
_ALGORITHMS = {name: jwt.PyJWS().get_algorithm_by_name(name) for name in (*ASYMMETRIC, *SYMMETRIC)}
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class AssertionRefused(Exception):
    """Not an assertion to accept; the message says why in words a client developer can act on."""


class KeyUnknown(AssertionRefused):
    """No key of the set can verify it: a key set fetched from a URL may be stale, worth one refetch."""


#: Members of a JWK that only a private (or symmetric) key has (RFC 7518 section 6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Keys a set may hold: enough for a rotation or two, not a way to make each assertion cost many checks.
MAX_KEYS = 16
#: RSA moduli accepted: none weaker than RFC 7518 section 3.3 allows, none so large that checking a signature
#: becomes a way to spend this server's CPU (verification time grows with the square of the modulus).
MIN_RSA_BITS, MAX_RSA_BITS = 2048, 4096


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A public key from a JWK Set: the JWK as sent (what it may verify is read from it) and PyJWT's key."""

    jwk: Mapping[str, Any]
    key: Any

    @property
    def kid(self) -> str | None:
        kid = self.jwk.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def secret(self) -> bool:
        """A derived ``client_secret_jwt`` secret: one per configured ``secret_key``, none of them named."""
        return self.jwk.get("kty") == "oct"

    def named(self, kid: str | None) -> bool:
        """Whether this key may check an assertion naming ``kid``; a secret has no ``kid``, so any is ignored."""
        return kid is None or self.secret or self.kid == kid


def derived_keys(secrets: Sequence[str]) -> tuple[VerifyingKey, ...]:
    """A ``client_secret_jwt`` client's secrets (one per ``secret_key`` still accepted) as keys for the HMAC
    algorithms only (RFC 7523 section 2.2 with OpenID Connect Core section 9: the key is the secret's octets)."""
    return tuple(VerifyingKey({"kty": "oct", "use": "sig"}, secret.encode()) for secret in secrets)


def key_set(document: object, *, strict: bool = True) -> tuple[VerifyingKey, ...]:
    """The public signing keys of a JWK Set (RFC 7517 section 5); :class:`KeySetError` says what is wrong.

    ``strict`` (what a client registers): every key must be one this server can verify with. Otherwise (a set
    fetched from a URL, which may also hold encryption keys or algorithms not accepted here) such keys are left
    out, and only a set left with none is refused.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError('a JWK Set is a JSON object with a "keys" array')
    entries = document["keys"]
    if not 0 < len(entries) <= MAX_KEYS:
        raise KeySetError(f"a JWK Set here holds 1 to {MAX_KEYS} keys")
    keys = []
    for entry in entries:
        try:
            keys.append(_verifying_key(entry))
        except KeySetError:
            if strict:
                raise
    if not keys:
        raise KeySetError("the JWK Set holds no key this server can verify signatures with")
    return tuple(keys)


def _verifying_key(entry: object) -> VerifyingKey:
    if not isinstance(entry, dict):
        raise KeySetError("each key of a JWK Set is a JSON object")
    if _PRIVATE_MEMBERS & entry.keys():
        raise KeySetError("a JWK Set must hold public keys only: a key has private or symmetric parts")
    if entry.get("alg") is not None and entry.get("alg") not in ASYMMETRIC:
        raise KeySetError(f"a key's alg {entry.get('alg')!r} is not one of {', '.join(ASYMMETRIC)}")
    try:
        parsed = jwt.PyJWK(entry)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError, TypeError):
        raise KeySetError(f"a key of kty {entry.get('kty')!r} cannot be used to verify signatures") from None
    size = getattr(parsed.key, "key_size", 0)
    if entry.get("kty") == "RSA" and not MIN_RSA_BITS <= size <= MAX_RSA_BITS:
        raise KeySetError(f"an RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {size}")
    return VerifyingKey(entry, parsed.key)


@dataclass(frozen=True, slots=True)
class Expected:
    """What an accepted assertion must say, and how much clock difference and lifetime it may have."""

    issuer: str
    audiences: frozenset[str]
    algorithms: frozenset[str]
    #: ``sub`` must be this when given (a client's assertion is about itself).
    subject: str | None = None
    leeway: float = 30.0
    #: The longest ``exp`` ahead of now accepted: its ``jti`` is kept that long.
    max_lifetime: float = 3600.0
    #: Whether the caller accepts it once (so it must carry a ``jti``); a workload's token is reused by design.
    single_use: bool = True


@dataclass(frozen=True, slots=True)
class Unverified:
    """An assertion taken apart once, not yet believed: enough to find whose keys should verify it."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    #: What the signature covers (``header.payload`` as sent) and the signature itself.
    signed: bytes
    signature: bytes

    @property
    def issuer(self) -> str | None:
        value = self.claims.get("iss")
        return value if isinstance(value, str) else None


_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")


def peek(assertion: str) -> Unverified:
    """A compact JWS taken apart (RFC 7515 section 7.1), unverified; :class:`AssertionRefused` for anything else."""
    if len(assertion) > MAX_LENGTH:
        raise AssertionRefused(f"the assertion is longer than {MAX_LENGTH} characters")
    parts = _COMPACT.fullmatch(assertion)
    if parts is None:
        raise AssertionRefused("the assertion is not a signed JWT")
    try:
        header = json.loads(unb64url(parts.group(1)))
        claims = json.loads(unb64url(parts.group(2)))
        signature = unb64url(parts.group(3))
    except (ValueError, RecursionError):  # bad base64 or JSON (UnicodeDecodeError is a ValueError too)
        raise AssertionRefused("the assertion is not a signed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AssertionRefused("the assertion's header and payload must be JSON objects")
    signed = assertion[: parts.end(2)].encode("ascii")
    return Unverified(header, claims, signed, signature)


def verify(seen: Unverified, keys: Sequence[VerifyingKey], expected: Expected, now: float) -> Mapping[str, Any]:
    """The claims of ``seen`` when one of ``keys`` signed it and every check holds, else :class:`AssertionRefused`
    (:class:`KeyUnknown` when no key of the set fits it at all)."""
    alg = seen.header.get("alg")
    if not isinstance(alg, str) or alg not in expected.algorithms:
        allowed = ", ".join(sorted(expected.algorithms))
        raise AssertionRefused(f"the assertion's alg {alg!r} is not accepted here; sign with one of {allowed}")
    if "crit" in seen.header:  # RFC 7515 section 4.1.11: extensions this server does not know must be refused
        raise AssertionRefused("the assertion's header has crit extensions this server does not support")
    kid = seen.header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AssertionRefused("the assertion's kid is not a string")
    candidates = [key for key in keys if fits(key, alg) and key.named(kid)]
    if not candidates:
        raise KeyUnknown(f"no key registered for this client verifies {alg}" + (f" with kid {kid!r}" if kid else ""))
    secret = candidates[0].secret
    if kid is None and len(candidates) > MAX_UNNAMED_TRIES and not secret:  # an HMAC costs next to nothing
        raise AssertionRefused("the client has several keys for this alg: name the one used in the header's kid")
    algorithm = _ALGORITHMS[alg]
    if not any(_verifies(algorithm, seen, key) for key in candidates):
        whose = "the client's secret" if secret else "the client's keys"
        raise AssertionRefused(f"the assertion's signature does not verify with {whose}")
    _check_claims(seen.claims, expected, now)
    return seen.claims


def _verifies(algorithm: Any, seen: Unverified, key: VerifyingKey) -> bool:
    try:
        return bool(algorithm.verify(seen.signed, key.key, seen.signature))
    except (ValueError, TypeError, jwt.InvalidKeyError):  # a key of the wrong size or kind for the algorithm
        return False


def fits(key: VerifyingKey, alg: str) -> bool:
    """Whether ``key`` was made for ``alg``: its own ``alg`` when it names one, else its type and curve."""
    data = key.jwk
    if data.get("use", "sig") != "sig" or not _operations_allow_verify(data.get("key_ops")):
        return False
    if "alg" in data:
        return bool(data["alg"] == alg)
    if data.get("kty") != _KEY_TYPES.get(alg[:2]):
        return False
    if alg in _CURVES:
        return bool(data.get("crv") == _CURVES[alg])
    return alg != "EdDSA" or data.get("crv") in ("Ed25519", "Ed448")


def _operations_allow_verify(ops: object) -> bool:
    return ops is None or (isinstance(ops, list) and "verify" in ops)


def _check_claims(claims: Mapping[str, Any], expected: Expected, now: float) -> None:
    for name in ("iss", "aud", "exp", "jti") if expected.single_use else ("iss", "aud", "exp"):
        if name not in claims:
            raise AssertionRefused(f"the assertion has no {name} claim")
    if claims["iss"] != expected.issuer:
        raise AssertionRefused("the assertion's iss is not the client authenticating")
    if expected.subject is not None and claims.get("sub") != expected.subject:
        raise AssertionRefused("the assertion's sub must be the client id")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(isinstance(aud, str) and aud in expected.audiences for aud in audiences):
        raise AssertionRefused(f"the assertion's aud must name this server: {min(expected.audiences, key=len)}")
    jti = claims.get("jti")
    if "jti" in claims and (not isinstance(jti, str) or not 0 < len(jti) <= 256):
        raise AssertionRefused("the assertion's jti must be a string of 1 to 256 characters")
    exp = _seconds(claims, "exp")
    if exp is None or exp <= now - expected.leeway:
        raise AssertionRefused("the assertion has expired")
    if exp > now + expected.max_lifetime + expected.leeway:
        raise AssertionRefused(f"the assertion's exp is more than {expected.max_lifetime:g} seconds ahead")
    for name in ("nbf", "iat"):
        if name in claims:
            moment = _seconds(claims, name)
            if moment is None or moment > now + expected.leeway:
                raise AssertionRefused(f"the assertion's {name} is in the future")


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
