"""Validating RFC 9068 JWT access tokens from the issuer's JWK Set, for resource servers that share no store.

A :class:`JWKSValidator` checks signature, ``typ: at+jwt``, ``iss``, ``exp`` and (when given) ``aud`` with
PyJWT, and fetches the JWKS over httpx only when it meets a ``kid`` it does not know (a rotation), at most
once per ``min_refetch`` seconds. No call back per token, and so no revocation either: a revoked JWT keeps
working here until it expires. Where revocation must be seen at once, validate against the store
(:class:`~asgi_oauth.LocalValidator`, which accepts JWTs too) or introspect
(:class:`~asgi_oauth.RemoteValidator`). Needs the ``oidc`` and ``remote`` extras.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt

from .dpop import bound_to
from .middleware import ValidationUnavailable
from .models import AccessToken
from .types import Clock

#: RFC 9068 section 4: the media type of a JWT access token, with or without its ``application/`` prefix.
_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_REQUIRED = ["exp", "iat", "iss", "sub", "client_id", "jti"]


class JWKSValidator:
    """A :class:`~asgi_oauth.TokenValidator` for JWT access tokens signed by ``issuer``'s keys at ``jwks_uri``."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        issuer: str,
        audience: str | None = None,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        min_refetch: float = 30.0,
        timeout: float = 2.0,
        leeway: float = 0.0,
        clock: Clock = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._uri = jwks_uri
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._min_refetch = min_refetch
        self._leeway = leeway
        self._clock = clock
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def validate(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        kid, typ = header.get("kid"), header.get("typ")
        if not isinstance(kid, str) or not isinstance(typ, str) or typ.lower() not in _TYPES:
            return None
        key = self._keys.get(kid) or await self._refetch_for(kid)
        if key is None or key.algorithm_name not in self._algorithms:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": _REQUIRED, "verify_aud": self._audience is not None},
            )
        except jwt.InvalidTokenError:
            return None
        return _access_token(claims)

    async def _refetch_for(self, kid: str) -> jwt.PyJWK | None:
        """Read the JWKS again for an unknown ``kid``, unless it was read within ``min_refetch`` seconds."""
        async with self._lock:  # concurrent requests with a new kid share one fetch
            if kid in self._keys:
                return self._keys[kid]
            if self._fetched_at is not None and self._clock() - self._fetched_at < self._min_refetch:
                return None
            try:
                response = await self._http.get(self._uri, headers={"Accept": "application/jwk-set+json"})
                response.raise_for_status()
                document = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                raise ValidationUnavailable(f"cannot read the JWKS: {type(exc).__name__}") from exc
            self._fetched_at = self._clock()
            self._keys = {key.key_id: key for key in document.keys if key.key_id}
            return self._keys.get(kid)

    async def aclose(self) -> None:
        await self._http.aclose()


def _access_token(claims: dict[str, Any]) -> AccessToken | None:
    client_id, sub = claims["client_id"], claims["sub"]
    aud = claims.get("aud")
    resource = aud[0] if isinstance(aud, list) and aud else aud if isinstance(aud, str) else None
    scope = claims.get("scope", "")
    if not isinstance(client_id, str) or not isinstance(sub, str) or not isinstance(scope, str):
        return None
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return AccessToken(
        client_id=client_id,
        scope=scope,
        # RFC 9068 section 2.2: a client acting for itself is its own subject.
        sub=None if sub == client_id else sub,
        iat=int(claims["iat"]),
        exp=float(claims["exp"]),
        resource=resource,
        # RFC 9449 section 6.1: bound to a key, the middleware accepts it only with a proof of that key.
        extra=bound_to(jkt) if isinstance(jkt, str) else {},
    )
