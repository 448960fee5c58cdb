"""What the assertion features share and a plain install can import: the RFCs' names, the accepted algorithms,
the registration rule for a signer's keys and its error. Nothing here needs PyJWT at import, so the package
(and its settings section) is known to the server whether or not the ``assertions`` extra is installed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_settings import NoDecode

from ...algorithms import ASYMMETRIC as ASYMMETRIC
from ...algorithms import asymmetric_only as asymmetric_only
from ...cimd.documents import is_document_url
from ...crypto import b64url

#: The HMAC algorithms (RFC 7518 section 3.2); a ``client_secret_jwt`` client's only, never a keyed client's.
SYMMETRIC = ("HS256", "HS384", "HS512")
#: Those a derived secret may sign with: RFC 7518 section 3.2 asks for a key at least as long as the hash, and
#: a derived secret has 256 bits (43 characters), too short for HS384 and HS512.
DERIVED_ALGORITHMS = ("HS256",)
#: RFC 7523 section 2.2: the ``client_assertion_type`` of a JWT.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: RFC 7523 section 2.1: the grant type.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The ``typ`` of an Identity Assertion JWT Authorization Grant.
ID_JAG_TYPE = "oauth-id-jag+jwt"
#: The key of a client's ``extra`` that holds its registered keys.
EXTRA_KEY = "private_key_jwt"
#: The method whose secret is derived, and the key of a client's ``extra`` that holds its salt.
HMAC_METHOD = "client_secret_jwt"
#: Names what a derived secret is for, so no other use of ``secret_key`` can yield the same bytes.
_SECRET_LABEL = b"asgi_oauth client_secret_jwt v1"
#: Why no ``client_secret_jwt`` client can be made while the server runs with an ephemeral key.
EPHEMERAL_KEY_REFUSAL = (
    "client_secret_jwt secrets are derived from the server's secret key: set ASGI_OAUTH_SECRET_KEY "
    "(an ephemeral key changes on restart, and every such secret with it)"
)


def symmetric_only(algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """``algorithms`` when they are some of :data:`DERIVED_ALGORITHMS` (none: ``client_secret_jwt`` off), else
    :class:`ValueError` saying which are not and why."""
    refused = [alg for alg in algorithms if alg not in DERIVED_ALGORITHMS]
    if refused:
        raise ValueError(
            f"secret_algorithms: choose among {', '.join(DERIVED_ALGORITHMS)} (a derived secret has 256 bits, too "
            f"short for longer hashes; RFC 7518 section 3.2), or none; not {', '.join(refused)}"
        )
    return algorithms


def comma_separated(value: object) -> object:
    """A setting the environment gives as comma-separated text, as a tuple; a tuple given in code as it is."""
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


#: A setting naming signature algorithms that hold a public key (comma-separated in the environment).
AsymmetricAlgorithms = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(comma_separated), AfterValidator(asymmetric_only)
]
#: A setting naming the HMAC algorithms a derived secret may sign with.
DerivedAlgorithms = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(comma_separated), AfterValidator(symmetric_only)
]


class KeySetError(ValueError):
    """A JWK Set that cannot verify assertions (not a set, a private or symmetric key, a key PyJWT cannot use)."""


def registered_keys(*, jwks: Mapping[str, Any] | None = None, jwks_uri: str | None = None) -> dict[str, Any]:
    """The ``extra`` of a ``private_key_jwt`` client with these keys; :class:`KeySetError` when they cannot be
    used (both or neither given, a private or symmetric key, a URL that is not public https)."""
    if (jwks is None) == (jwks_uri is None):
        raise KeySetError("give the client's keys as jwks or as jwks_uri, exactly one of them")
    if jwks is not None:
        from .verify import key_set  # PyJWT: the assertions extra

        key_set(jwks)  # refused now rather than at the client's first request
        return {EXTRA_KEY: {"jwks": dict(jwks)}}
    if jwks_uri is None or not is_document_url(jwks_uri):
        raise KeySetError("jwks_uri must be an https URL on a public host, with a path")
    return {EXTRA_KEY: {"jwks_uri": jwks_uri}}


def derived_secret(key: str, client_id: str, salt: str) -> str:
    """The ``client_secret_jwt`` secret of ``client_id`` under one ``secret_key``: 256 bits, base64url.

    Derived, never stored: a store dump holds only the salt. The parts are joined by NUL, which neither a
    client id nor a salt holds, so two different (client id, salt) pairs never give the same input."""
    message = b"\x00".join((_SECRET_LABEL, client_id.encode(), salt.encode()))
    mac = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return b64url(mac)


def salted_secret(secret_key: Sequence[SecretStr], client_id: str) -> tuple[dict[str, Any], str]:
    """A new ``client_secret_jwt`` client's ``extra`` (a fresh salt) and its secret, derived with the current
    (first) ``secret_key``; :class:`ValueError` without one, since an ephemeral key would change it on restart."""
    if not secret_key:
        raise ValueError(EPHEMERAL_KEY_REFUSAL)
    salt = secrets.token_urlsafe(16)
    return {HMAC_METHOD: {"salt": salt}}, derived_secret(secret_key[0].get_secret_value(), client_id, salt)
