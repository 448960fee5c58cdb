"""What the assertion features share and a plain install can import: the RFCs' names, the accepted algorithms,
the registration rule for a signer's keys and its error. Nothing here needs PyJWT at import, so the package
(and its settings section) is known to the server whether or not the ``assertions`` extra is installed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...cimd.documents import is_document_url

#: Every algorithm an assertion may be signed with (RFC 7518, RFC 8037); a deployment may allow fewer.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: RFC 7523 section 2.2: the ``client_assertion_type`` of a JWT.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: RFC 7523 section 2.1: the grant type.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The ``typ`` of an Identity Assertion JWT Authorization Grant.
ID_JAG_TYPE = "oauth-id-jag+jwt"
#: The key of a client's ``extra`` that holds its registered keys.
EXTRA_KEY = "private_key_jwt"


def asymmetric_only(algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """``algorithms`` when they are some of :data:`ASYMMETRIC`, else :class:`ValueError` saying which are not."""
    refused = [alg for alg in algorithms if alg not in ASYMMETRIC]
    if refused or not algorithms:
        raise ValueError(
            f"algorithms: choose among {', '.join(ASYMMETRIC)} (asymmetric only); not {', '.join(refused)}"
        )
    return algorithms


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
