"""The OpenID provider's signing keys: loading, generating, rotating, publishing (JWKS) and signing.

All JOSE work is PyJWT's (with ``cryptography``); nothing here builds a JWS by hand. Keys come from the
settings (``OIDC_SIGNING_KEYS``: PEM or JWK private keys, newest first) or, when none are configured, are
generated into the store as one document that every worker shares (a compare-and-set, so two workers never
generate two keys). Every key that can still have live tokens is published, so rotation has an overlap:
the newest key signs, the previous ones keep verifying until tokens signed with them have expired.

Private keys never leave this module except into the store document of generated keys: ``repr`` shows the
``kid`` and algorithm only, the JWKS holds public members only, and nothing here logs a key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ...crypto import b64url
from ...settings import SettingsError
from ...types import Clock
from .settings import OIDCSettings
from .store import KeyStore

logger = logging.getLogger("asgi_oauth")

Alg = Literal["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
_RSA_MIN_BITS = 2048
#: How long a worker uses the generated keys it read before reading them again.
KEY_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One private key with its ``kid`` and algorithm; ``retire_at`` (epoch seconds) for generated keys that
    were rotated away: published and verifying until then, never signing."""

    kid: str
    alg: Alg
    private: PrivateKey = field(repr=False)
    retire_at: float | None = None

    @property
    def public(self) -> PublicKey:
        return self.private.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The JWKS entry: public members only, with ``kid``, ``alg`` and ``use``."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            members = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            members = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**members, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_jwk(self) -> dict[str, Any]:
        """The private JWK, for the store document of generated keys only."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            members = RSAAlgorithm.to_jwk(self.private, as_dict=True)
        else:
            members = ECAlgorithm.to_jwk(self.private, as_dict=True)
        return {**members, "kid": self.kid, "alg": self.alg}


def thumbprint(public: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), the ``kid`` of keys that come without one."""
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        required = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        required = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _checked(private: object, kid: str | None, alg: str | None) -> SigningKey:
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < _RSA_MIN_BITS:
            raise ValueError(f"an RSA key needs at least {_RSA_MIN_BITS} bits")
        if alg not in (None, "RS256"):
            raise ValueError(f"an RSA key here signs RS256, not {alg}")
        return SigningKey(kid or thumbprint(private.public_key()), "RS256", private)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        if not isinstance(private.curve, ec.SECP256R1):
            raise ValueError("an EC key must be on P-256 (ES256)")
        if alg not in (None, "ES256"):
            raise ValueError(f"a P-256 key signs ES256, not {alg}")
        return SigningKey(kid or thumbprint(private.public_key()), "ES256", private)
    raise ValueError("only RSA (RS256) and P-256 (ES256) private keys can sign")


def load_key(text: str) -> SigningKey:
    """A private key from PEM (PKCS#8 or traditional) or a private JWK; ``ValueError`` naming no key material."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        if "PRIVATE KEY" not in text.split("\n", 1)[0]:
            raise ValueError("a PEM signing key must be a PRIVATE KEY")
        try:
            private = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise ValueError("the PEM key cannot be read (encrypted keys are not supported)") from None
        return _checked(private, None, None)
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("a signing key must be PEM or a JWK (JSON)") from None
    if not isinstance(data, dict) or "d" not in data:
        raise ValueError("a JWK signing key must be a private key (with its d member)")
    try:
        jwk = jwt.PyJWK(data)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError, TypeError):
        raise ValueError("the JWK cannot be read as an RSA or P-256 private key") from None
    kid = data.get("kid")
    return _checked(jwk.key, kid if isinstance(kid, str) and kid else None, data.get("alg"))


def generate_key(alg: Alg) -> SigningKey:
    if alg == "RS256":
        private: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_MIN_BITS)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return _checked(private, None, alg)


def configured_keys(settings: OIDCSettings) -> tuple[SigningKey, ...]:
    """The keys of ``OIDC_SIGNING_KEYS``, newest first; a bad one is a :class:`SettingsError` naming its place."""
    keys = []
    for position, secret in enumerate(settings.oidc_signing_keys, 1):
        try:
            keys.append(load_key(secret.get_secret_value()))
        except ValueError as exc:
            raise SettingsError(f"ASGI_OAUTH_OIDC_SIGNING_KEYS: key {position}: {exc}") from None
    if keys and not any(key.alg == settings.oidc_signing_alg for key in keys):
        raise SettingsError(
            f"ASGI_OAUTH_OIDC_SIGNING_KEYS: no key signs {settings.oidc_signing_alg} (ASGI_OAUTH_OIDC_SIGNING_ALG)"
        )
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The keys in use at one moment: the first of the signing algorithm signs, all of them verify."""

    keys: tuple[SigningKey, ...]
    alg: Alg

    @property
    def signer(self) -> SigningKey:
        for key in self.keys:
            if key.alg == self.alg and key.retire_at is None:
                return key
        raise LookupError(f"no {self.alg} signing key")

    def find(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def _encode_document(keys: tuple[SigningKey, ...]) -> str:
    entries = [{"jwk": key.private_jwk(), "retire_at": key.retire_at} for key in keys]
    return json.dumps({"v": 1, "keys": entries}, separators=(",", ":"), sort_keys=True)


def _decode_document(raw: str) -> tuple[SigningKey, ...]:
    data = json.loads(raw)
    keys = []
    for entry in data["keys"]:
        key = load_key(json.dumps(entry["jwk"]))
        retire_at = entry.get("retire_at")
        keys.append(SigningKey(key.kid, key.alg, key.private, None if retire_at is None else float(retire_at)))
    return tuple(keys)


class KeyRing:
    """The provider's keys for one server: configured ones, or generated into ``store``, read again every
    :data:`KEY_CACHE_SECONDS` so a rotation on one worker reaches the others.

    It is the :class:`~.protocol.TokenSigner` ID tokens and JWT access tokens are signed with. A rotated-away
    key stays published for the longest a token it signed can live (``access_token_lifetime``, the core's).
    """

    def __init__(
        self,
        settings: OIDCSettings,
        store: KeyStore,
        *,
        access_token_lifetime: float = 3600.0,
        clock: Clock = time.time,
    ) -> None:
        self._settings = settings
        self._access_token_lifetime = access_token_lifetime
        self._store = store
        self._clock = clock
        self._configured = configured_keys(settings)
        self._cached: KeySet | None = KeySet(self._configured, settings.oidc_signing_alg) if self._configured else None
        self._read_at = 0.0

    @property
    def alg(self) -> Alg:
        return self._settings.oidc_signing_alg

    @property
    def generated(self) -> bool:
        """Whether the keys live in the store (no ``OIDC_SIGNING_KEYS`` configured)."""
        return not self._configured

    def overlap(self) -> float:
        """How long a rotated-away key stays published: the longest a token signed with it can live."""
        return max(self._settings.id_token_lifetime, self._access_token_lifetime) + 60.0

    async def current(self, *, fresh: bool = False) -> KeySet:
        """The keys now; generated ones are read from the store (and generated there the first time)."""
        if self._configured:
            if self._cached is None:  # set in __init__ whenever keys are configured
                raise RuntimeError("configured keys were not loaded")
            return self._cached
        now = self._clock()
        if not fresh and self._cached is not None and now - self._read_at < KEY_CACHE_SECONDS:
            return self._cached
        while True:
            raw = await self._store.get_signing_keys()
            keys = _decode_document(raw) if raw is not None else ()
            live = tuple(key for key in keys if key.retire_at is None or key.retire_at > now)
            if any(key.alg == self.alg and key.retire_at is None for key in live):
                break
            # None yet (or none of this algorithm): generate one, and agree on it with every other worker.
            logger.warning(
                "No ASGI_OAUTH_OIDC_SIGNING_KEYS configured: generated a %s key into the store (demo use only; "
                "the store then holds a private key)",
                self.alg,
            )
            if await self._store.swap_signing_keys(raw, _encode_document((generate_key(self.alg), *live))):
                continue  # read back what was stored
        self._cached = KeySet(live, self.alg)
        self._read_at = now
        return self._cached

    async def stored(self) -> tuple[SigningKey, ...]:
        """The generated keys the store holds now, newest first, without generating any (for ``keys list``)."""
        raw = await self._store.get_signing_keys()
        now = self._clock()
        keys = _decode_document(raw) if raw is not None else ()
        return tuple(key for key in keys if key.retire_at is None or key.retire_at > now)

    async def rotate(self) -> SigningKey:
        """Generated keys only: a new key signs from now on; the previous ones stay published and verifying for
        :meth:`overlap` seconds, so every token they signed stays valid until it expires."""
        if self._configured:
            raise RuntimeError("configured keys rotate by configuration: put the new key first, keep the old one")
        while True:
            raw = await self._store.get_signing_keys()
            now = self._clock()
            old = _decode_document(raw) if raw is not None else ()
            retire_at = now + self.overlap()
            kept = tuple(
                SigningKey(k.kid, k.alg, k.private, k.retire_at if k.retire_at is not None else retire_at)
                for k in old
                if k.retire_at is None or k.retire_at > now
            )
            new = generate_key(self.alg)
            if await self._store.swap_signing_keys(raw, _encode_document((new, *kept))):
                await self.current(fresh=True)
                return new

    async def jwks(self) -> dict[str, Any]:
        """The JWK Set document: every published key's public members."""
        return (await self.current(fresh=self.generated)).jwks()

    async def verified(self, token: str, *, typ: str, issuer: str, audience: str) -> dict[str, Any]:
        """The claims of a JWT this server signed, presented back to it (an ID token as a token exchange's subject),
        checked as a relying party checks it: ``typ``, one of these keys by ``kid`` and its algorithm, ``iss``,
        ``aud`` and ``exp`` on this ring's clock. :class:`jwt.InvalidTokenError` says what failed."""
        header = jwt.get_unverified_header(token)
        if header.get("typ") != typ:
            raise jwt.InvalidTokenError(f"its typ is not {typ}")
        kid = header.get("kid")
        key = (await self.current()).find(kid) if isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidTokenError("it is not signed with a key of this server")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public,
            algorithms=[key.alg],
            issuer=issuer,
            audience=audience,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= self._clock():
            raise jwt.ExpiredSignatureError("it has expired")
        return claims

    async def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        key = (await self.current()).signer
        return jwt.encode(dict(claims), key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})
