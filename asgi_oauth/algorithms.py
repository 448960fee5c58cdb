"""The signature algorithms a JWT may be checked with when its key is public (RFC 7518, RFC 8037): what JWT
assertions (the ``private_key_jwt`` and ``jwt_bearer`` features) and DPoP proofs (:mod:`asgi_oauth.dpop`, at the
authorization server and at resource servers alike) accept. Never ``none``, never an HMAC: a MAC with a public
key proves nothing."""

from __future__ import annotations

#: Every algorithm a JWT whose key is public may be signed with (RFC 7518, RFC 8037); a deployment may allow fewer.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def asymmetric_only(algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """``algorithms`` when they are some of :data:`ASYMMETRIC`, else :class:`ValueError` saying which are not."""
    refused = [alg for alg in algorithms if alg not in ASYMMETRIC]
    if refused or not algorithms:
        raise ValueError(
            f"algorithms: choose among {', '.join(ASYMMETRIC)} (asymmetric only); not {', '.join(refused)}"
        )
    return algorithms
