"""Checking a DPoP proof (RFC 9449 section 4.3): is this JWT, sent in a ``DPoP`` header, one to accept for this
request, and what key does it prove possession of.

Pure: no store, no HTTP. The caller gives the request's method and URL, its own clock, and (for a protected
resource) the access token; it claims the ``jti`` once and compares :attr:`Proof.jkt` with a bound token's
``cnf.jkt``. Times are judged here against the caller's ``now``, not PyJWT's clock.

The checks run in the order that believes nothing unverified sooner than it must: the size and shape of the JWT,
then its header (``typ``, ``alg``, ``crit``, the public ``jwk``), then the signature with that key, and only
then the claims. Anything wrong with a proof, whatever its bytes, is a :class:`ProofRefused` saying what.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..algorithms import ASYMMETRIC, asymmetric_only
from ..crypto import b64url, unb64url
from ..extras import missing
from ..protocol.params import refuse_constant

try:
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
except ModuleNotFoundError as exc:  # the dpop extra is not installed: say so, not just "no module jwt"
    raise (missing("DPoP proofs (RFC 9449)", "dpop") or exc) from None

#: What a deployment accepts unless it chooses fewer: the JWT assertions' asymmetric algorithms (RFC 9449
#: section 4.3 point 5: never ``none``, never an HMAC, since a proof carries its key and a MAC with it proves
#: nothing). Every one is safe: the client picks its key.
DEFAULT_ALGORITHMS = ASYMMETRIC
#: RFC 9449 section 4.2: the ``typ`` of a proof, which keeps any other JWT from passing for one.
PROOF_TYPE = "dpop+jwt"
#: A proof longer than this is refused before it is parsed: one with a 4096-bit RSA key is under 2 KB.
MAX_LENGTH = 8192
#: The longest ``jti`` kept: the caller stores it until the proof is too old to accept.
MAX_JTI_LENGTH = 256
#: RSA moduli accepted: none weaker than RFC 7518 section 3.3 allows, none so large that any client could make
#: each of its requests cost this server much CPU (verification time grows with the square of the modulus).
MIN_RSA_BITS, MAX_RSA_BITS = 2048, 4096
#: A larger public exponent makes a signature as costly to check as to make (65537 has 17 bits).
MAX_RSA_EXPONENT_BITS = 64


class ProofRefused(Exception):
    """Not a proof to accept; the message says why in words a client developer can act on, ``error`` is the
    OAuth error code to answer with (RFC 9449 section 12.2)."""

    error = "invalid_dpop_proof"


class NonceRequired(ProofRefused):
    """The proof lacks the server's current nonce (RFC 9449 section 8): the answer carries a fresh one in the
    ``DPoP-Nonce`` header and the client retries with it."""

    error = "use_dpop_nonce"


@dataclass(frozen=True, slots=True)
class Proof:
    """An accepted proof: the key it proves possession of, and the claims the caller still acts on."""

    #: RFC 7638 SHA-256 thumbprint of :attr:`jwk`, base64url without padding: what ``cnf.jkt`` binds.
    jkt: str
    #: To be accepted once, for as long as a proof with this ``iat`` is accepted.
    jti: str
    iat: float
    htm: str
    #: As compared: :func:`canonical_htu` of the claim.
    htu: str
    ath: str | None
    nonce: str | None
    #: The public key's required members only (RFC 7638 section 3.2), which are all that :attr:`jkt` covers.
    jwk: Mapping[str, Any]

    def acceptable_until(self, max_age: float, leeway: float) -> float:
        """Until when a proof with this ``iat`` is accepted (``verify_proof`` with these bounds): how long its
        ``jti`` must be remembered to refuse a replay."""
        return self.iat + max_age + leeway


#: RFC 7638 section 3.2: the members that define each key type, the only ones its thumbprint covers.
_REQUIRED_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
#: Members of a JWK that only a private (or symmetric) key has (RFC 7518 section 6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: The key type each algorithm family verifies with, and the curve of each that names one.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": "Ed25519"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
#: Longest member of a JWK accepted (a 4096-bit modulus is 683 characters).
_MAX_MEMBER = 1024


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public RSA, EC or OKP key, base64url without padding;
    :class:`ValueError` for another key type or a required member missing or not base64url text."""
    kty = jwk.get("kty")
    members = _REQUIRED_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError(f"a JWK thumbprint is taken of an RSA, EC or OKP key, not of kty {_shown(kty)}")
    values = {name: jwk.get(name) for name in members}
    for name, value in values.items():
        if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
            raise ValueError(f"the {kty} key's {name} must be base64url text")
    # Every value is base64url or a curve name: ASCII with nothing to escape, so this is the RFC's exact JSON.
    canonical = json.dumps(values, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def access_token_hash(token: str) -> str:
    """The ``ath`` of a proof sent with ``token`` (RFC 9449 section 4.2): base64url SHA-256 of its ASCII."""
    # For an ASCII token UTF-8 is the same bytes; anything else (never a valid token) must not raise.
    return b64url(hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest())


_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@functools.lru_cache(maxsize=1024)  # a resource's URLs, and the proofs naming them, repeat request after request
def canonical_htu(url: str) -> str:
    """``url`` as RFC 9449 section 4.3 point 9 compares it: without query and fragment, scheme and host
    lower-cased, a default port dropped, an empty path as ``/``, percent-encodings normalised (RFC 3986 section
    6.2.2: hex upper-cased, unreserved characters decoded). :class:`ValueError` for anything but an absolute
    http(s) URI naming a host, without user information or whitespace."""
    if not isinstance(url, str) or any(char <= " " or char == "\x7f" for char in url):
        raise ValueError("an htu is an absolute http(s) URI without whitespace")
    parts = urlsplit(url)  # ValueError for a malformed IPv6 host
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("an htu is an absolute http(s) URI naming a host")
    if "@" in parts.netloc:
        raise ValueError("an htu must not carry user information")
    host = parts.hostname.lower()
    port = parts.port  # ValueError for a port out of range or not a number
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, _normal_percent(parts.path) or "/", "", ""))


def _normal_percent(path: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PERCENT.sub(one, path)


#: PyJWT's implementation of each algorithm: what builds a key from a JWK.
_ALGORITHMS = {name: jwt.PyJWS().get_algorithm_by_name(name) for name in ASYMMETRIC}
_ACCEPTABLE = frozenset(ASYMMETRIC)
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    algorithms: frozenset[str],
    leeway: float = 5.0,
    max_age: float = 300.0,
    access_token: str | None = None,
    nonce_valid: Callable[[str], bool] | None = None,
) -> Proof:
    """The proof ``proof`` for a ``method`` request to ``url`` at ``now``, when every check of RFC 9449
    section 4.3 holds; else :class:`ProofRefused` (:class:`NonceRequired` when ``nonce_valid`` is given and the
    proof has no nonce it accepts).

    ``algorithms`` must be some of :data:`ASYMMETRIC` (:class:`ValueError` otherwise: a configuration mistake,
    not a client's). A proof's ``iat`` may be up to ``max_age`` seconds in the past and no more than ``leeway``
    in the future, with ``leeway`` more for an old one. With ``access_token`` (a request to a protected
    resource) the proof must carry the token's hash.
    """
    if not algorithms <= _ACCEPTABLE or not algorithms:
        asymmetric_only(tuple(sorted(algorithms)))
    signed, header_part, payload_part, signature = _split(proof)
    alg, key, jwk, jkt = _signer(header_part, algorithms)
    if not _verifies(alg, key, signed, signature):
        raise ProofRefused("the DPoP proof's signature does not verify with the jwk in its header")
    claims = _decode(payload_part, "payload")
    jti = _jti(claims)
    htm, htu = _request(claims, method, url)
    nonce = _nonce(claims, nonce_valid)
    iat = _iat(claims, now, leeway, max_age)
    ath = _ath(claims, access_token)
    return Proof(jkt, jti, iat, htm, htu, ath, nonce, jwk)


def _split(proof: object) -> tuple[bytes, str, str, bytes]:
    """What the signature covers, the header and payload as sent, and the signature: a compact JWS taken
    apart (RFC 7515 section 7.1), its length checked before anything else is done with it."""
    if not isinstance(proof, str):
        raise ProofRefused("a DPoP proof is a JWT sent as text in the DPoP header")
    if len(proof) > MAX_LENGTH:
        raise ProofRefused(f"the DPoP proof is longer than {MAX_LENGTH} characters")
    parts = _COMPACT.fullmatch(proof)
    if parts is None:
        raise ProofRefused("the DPoP proof is not a signed JWT (three base64url parts joined by dots)")
    try:
        signature = unb64url(parts.group(3))
    except ValueError:
        raise ProofRefused("the DPoP proof's signature is not base64url") from None
    return proof[: parts.end(2)].encode("ascii"), parts.group(1), parts.group(2), signature


def _header(part: str, algorithms: frozenset[str]) -> dict[str, Any]:
    header = _decode(part, "header")
    typ = header.get("typ")
    if typ != PROOF_TYPE:
        raise ProofRefused(f"the DPoP proof's typ must be {PROOF_TYPE!r}, not {_shown(typ)}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        allowed = ", ".join(sorted(algorithms))
        raise ProofRefused(f"the DPoP proof's alg {_shown(alg)} is not accepted here; sign with one of {allowed}")
    if "crit" in header:  # RFC 7515 section 4.1.11: extensions this server does not know must be refused
        raise ProofRefused("the DPoP proof's header has crit extensions this server does not support")
    return header


def _decode(part: str, name: str) -> dict[str, Any]:
    """A JSON object from base64url, strictly: UTF-8 only, no duplicate member (two parsers could each read a
    different one), no NaN or Infinity."""
    try:
        value = _STRICT_JSON.decode(unb64url(part).decode("utf-8"))
    except (ValueError, RecursionError):  # base64, UTF-8, JSON, a number too long to convert, nested too deep
        raise ProofRefused(f"the DPoP proof's {name} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise ProofRefused(f"the DPoP proof's {name} must be a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


#: Made once: ``json.loads`` with options builds a decoder per call.
_STRICT_JSON = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=refuse_constant)


def _public_jwk(jwk: object, alg: str) -> dict[str, str]:
    """The required members of the header's ``jwk`` when it is a public key of the type and curve ``alg``
    verifies with (RFC 9449 section 4.3 points 5 and 7); else :class:`ProofRefused` saying what is wrong."""
    if not isinstance(jwk, dict):
        raise ProofRefused("the DPoP proof's header must carry the public key as a jwk object")
    if jwk.get("kty") == "oct" or _PRIVATE_MEMBERS & jwk.keys():
        raise ProofRefused("the DPoP proof's jwk must be a public key: it has private or symmetric parts")
    kty = _KEY_TYPES[alg[:2]]
    if jwk.get("kty") != kty:
        raise ProofRefused(f"the DPoP proof's alg {alg} verifies with a kty {kty} key, not {_shown(jwk.get('kty'))}")
    if alg in _CURVES and jwk.get("crv") != _CURVES[alg]:
        raise ProofRefused(f"the DPoP proof's alg {alg} verifies with a {_CURVES[alg]} key only")
    if jwk.get("alg", alg) != alg:
        raise ProofRefused(f"the DPoP proof's jwk is for alg {_shown(jwk.get('alg'))}, not {alg}")
    members: dict[str, str] = {}
    for name in _REQUIRED_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or len(value) > _MAX_MEMBER or not _BASE64URL.fullmatch(value):
            raise ProofRefused(f"the DPoP proof's {kty} jwk needs {name} as base64url text")
        members[name] = value
    if kty == "RSA":
        _check_rsa_size(members)
    return members


def _check_rsa_size(members: Mapping[str, str]) -> None:
    try:
        bits = int.from_bytes(unb64url(members["n"]), "big").bit_length()
        exponent_bits = int.from_bytes(unb64url(members["e"]), "big").bit_length()
    except ValueError:
        raise ProofRefused("the DPoP proof's RSA jwk has n or e that is not base64url") from None
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise ProofRefused(f"the DPoP proof's RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}")
    if exponent_bits > MAX_RSA_EXPONENT_BITS:
        raise ProofRefused(f"the DPoP proof's RSA exponent is longer than {MAX_RSA_EXPONENT_BITS} bits")


@functools.lru_cache(maxsize=1024)
def _signer(header_part: str, algorithms: frozenset[str]) -> tuple[str, Any, Mapping[str, str], str]:
    """The algorithm, prepared public key, ``jwk`` members and thumbprint of a proof's header, checked.

    A client sends the same header with every proof (its key does not change between requests), so a header is
    read, its key built and its thumbprint taken once, not per request: this is most of a proof's cost besides
    the signature. A header refused is not remembered. PyJWT and cryptography turn keys down with several
    exception types (a point not on the curve, an even modulus); whatever they raise is the client's key being
    no good, so it is a refusal."""
    header = _header(header_part, algorithms)
    alg: str = header["alg"]
    jwk = _public_jwk(header.get("jwk"), alg)
    try:
        key = _ALGORITHMS[alg].from_jwk(dict(jwk))
    except Exception:
        raise ProofRefused(f"the DPoP proof's jwk is not a valid {jwk['kty']} public key") from None
    return alg, key, MappingProxyType(jwk), thumbprint(jwk)


def _verifies(alg: str, key: Any, signed: bytes, signature: bytes) -> bool:
    """Whether ``key`` verifies ``signature`` over ``signed`` with ``alg`` (a signature of the wrong length, say,
    raises in cryptography: that is a signature that does not verify)."""
    try:
        _CHECKS[alg](key, signed, signature)
    except Exception:
        return False
    return True


def _pkcs1(digest: hashes.HashAlgorithm) -> Callable[[Any, bytes, bytes], None]:
    scheme = padding.PKCS1v15()
    return lambda key, signed, signature: key.verify(signature, signed, scheme, digest)


def _pss(digest: hashes.HashAlgorithm) -> Callable[[Any, bytes, bytes], None]:
    scheme = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)  # RFC 7518 section 3.5
    return lambda key, signed, signature: key.verify(signature, signed, scheme, digest)


def _ecdsa(digest: hashes.HashAlgorithm, size: int) -> Callable[[Any, bytes, bytes], None]:
    """RFC 7518 section 3.4: a JWS carries R and S as two ``size``-byte integers; cryptography takes DER."""
    scheme = ec.ECDSA(digest)

    def check(key: Any, signed: bytes, signature: bytes) -> None:
        if len(signature) != 2 * size:
            raise ValueError("an ECDSA signature of the wrong length")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), signed, scheme)

    return check


#: Each algorithm's signature check, with cryptography's objects made once (PyJWT's make them per call, which
#: cost an RS256 proof about a third more than the RSA operation itself). Raises when it does not verify.
_CHECKS: dict[str, Callable[[Any, bytes, bytes], None]] = {
    "RS256": _pkcs1(hashes.SHA256()),
    "RS384": _pkcs1(hashes.SHA384()),
    "RS512": _pkcs1(hashes.SHA512()),
    "PS256": _pss(hashes.SHA256()),
    "PS384": _pss(hashes.SHA384()),
    "PS512": _pss(hashes.SHA512()),
    "ES256": _ecdsa(hashes.SHA256(), 32),
    "ES384": _ecdsa(hashes.SHA384(), 48),
    "ES512": _ecdsa(hashes.SHA512(), 66),
    "EdDSA": lambda key, signed, signature: key.verify(signature, signed),
}


def _jti(claims: Mapping[str, Any]) -> str:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH or not _encodable(jti):
        raise ProofRefused(f"the DPoP proof needs a jti: a unique string of 1 to {MAX_JTI_LENGTH} characters")
    return jti


def _request(claims: Mapping[str, Any], method: str, url: str) -> tuple[str, str]:
    """The proof's ``htm`` and canonical ``htu`` when they name this request (RFC 9449 section 4.3 points 8, 9)."""
    htm, htu = claims.get("htm"), claims.get("htu")
    if not isinstance(htm, str) or htm != method:  # HTTP methods are case-sensitive (RFC 9110 section 9.1)
        raise ProofRefused(f"the DPoP proof's htm must be this request's method {method}, not {_shown(htm)}")
    try:
        target = canonical_htu(url)
    except ValueError:  # the request's own URL, from a Host header the client sent
        raise ProofRefused("this request's URL cannot be compared with the DPoP proof's htu") from None
    try:
        claimed = canonical_htu(htu) if isinstance(htu, str) else ""
    except ValueError:
        claimed = ""
    if claimed != target:
        raise ProofRefused(f"the DPoP proof's htu must be this request's URL {target}, not {_shown(htu)}")
    return htm, claimed


def _nonce(claims: Mapping[str, Any], nonce_valid: Callable[[str], bool] | None) -> str | None:
    """The proof's ``nonce``; when the server asks for one, :class:`NonceRequired` unless it is a current one."""
    nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not _encodable(nonce)):
        refusal = ProofRefused if nonce_valid is None else NonceRequired  # only a server giving nonces asks for one
        raise refusal("the DPoP proof's nonce must be the text of the server's DPoP-Nonce header")
    if nonce_valid is None:
        return nonce
    if nonce is None:
        raise NonceRequired("this server requires a nonce in DPoP proofs: sign again with the DPoP-Nonce given")
    if not nonce_valid(nonce):
        raise NonceRequired("the DPoP proof's nonce is not current: sign again with the DPoP-Nonce given")
    return nonce


def _iat(claims: Mapping[str, Any], now: float, leeway: float, max_age: float) -> float:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ProofRefused("the DPoP proof needs an iat: the time it was made, in seconds since the epoch")
    # Compared before any conversion: an int of a thousand digits compares fine but would not fit a float.
    if iat > now + leeway:
        raise ProofRefused("the DPoP proof's iat is in the future: check the client's clock")
    if iat < now - max_age - leeway:
        raise ProofRefused(f"the DPoP proof is more than {max_age:g} seconds old: make a fresh one for each request")
    return float(iat)


def _ath(claims: Mapping[str, Any], access_token: str | None) -> str | None:
    """The proof's ``ath``; with ``access_token``, it must be that token's hash (RFC 9449 section 4.3 point 12)."""
    ath = claims.get("ath")
    if ath is not None and (not isinstance(ath, str) or not _encodable(ath)):
        raise ProofRefused("the DPoP proof's ath must be the base64url SHA-256 hash of the access token")
    if access_token is None:
        return ath
    if ath is None:
        raise ProofRefused("a DPoP proof sent with an access token must carry its hash as ath")
    want = access_token_hash(access_token).encode("ascii")
    if not hmac.compare_digest(ath.encode("utf-8"), want):
        raise ProofRefused("the DPoP proof's ath is not the hash of the access token sent with it")
    return ath


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (JSON's ``\\ud800`` escapes give lone surrogates, which cannot be stored
    or sent on): the callers keep a ``jti`` and compare a nonce."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    """A value the client sent, short enough to quote in an error."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
