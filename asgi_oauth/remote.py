"""Remote validation: resource servers without the Redis ask the server's /introspect (RFC 7662).

Answers are cached in-process, keyed by a digest of the token: an active token until
``min(exp, now + max_ttl)``, an inactive one for ``negative_ttl``. The price is a revocation delay of
up to ``max_ttl`` seconds on this resource server; local validation has none. Concurrent requests
with the same uncached token share one introspection call. Needs the ``remote`` extra (httpx).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .dpop import bound_to
from .extras import missing

try:
    import httpx
except ModuleNotFoundError as exc:  # without the remote extra: say so, and how to install it
    raise (missing("asgi_oauth.remote", "remote") or exc) from None

from .middleware import ValidationUnavailable
from .models import AccessToken
from .types import Clock


@dataclass
class RemoteStats:
    introspections: int = 0
    cache_hits: int = 0
    coalesced: int = 0


class RemoteValidator:
    """A token validator for resource servers that cannot reach the store: asks the server's ``/introspect``
    (RFC 7662) as a client that may introspect any token, and caches the answers (see the module's docstring)."""

    def __init__(
        self,
        introspection_url: str,
        client_id: str,
        client_secret: str,
        *,
        max_ttl: float = 60.0,
        negative_ttl: float = 5.0,
        max_entries: int = 10_000,
        timeout: float = 2.0,
        clock: Clock = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = introspection_url
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._cache: OrderedDict[bytes, tuple[AccessToken | None, float]] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Task[AccessToken | None]] = {}
        self.stats = RemoteStats()

    async def validate(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(key)
            self.stats.cache_hits += 1
            return cached[0]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._introspect(key, token))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        else:
            self.stats.coalesced += 1
        # Shielded: one caller giving up must not cancel the call the others are waiting on.
        return await asyncio.shield(task)

    async def _introspect(self, key: bytes, token: str) -> AccessToken | None:
        self.stats.introspections += 1
        try:
            response = await self._http.post(
                self._url, data={"token": token, "token_type_hint": "access_token"}, auth=self._auth
            )
        except httpx.HTTPError as exc:
            raise ValidationUnavailable(f"introspection failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ValidationUnavailable(f"introspection answered {response.status_code}")
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise ValidationUnavailable("introspection answered invalid JSON") from exc
        found = _access_token(body)
        now = self._clock()
        if found is not None and found.exp <= now:
            # "Active" but already past its exp by this server's clock (skew, or exp rounded down): refuse,
            # so that no token is ever accepted beyond its exp.
            found = None
        expires = now + self._negative_ttl if found is None else min(found.exp, now + self._max_ttl)
        self._cache[key] = (found, expires)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return found

    async def aclose(self) -> None:
        await self._http.aclose()


def _access_token(body: Any) -> AccessToken | None:
    """An active *access* token from an RFC 7662 answer; refresh tokens never authenticate API calls."""
    if not isinstance(body, dict) or body.get("active") is not True:
        return None
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() not in ("bearer", "dpop"):
        return None
    cnf = body.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if token_type.lower() == "dpop" and not isinstance(jkt, str):
        return None  # DPoP-bound, but to no key this resource could check a proof against
    client_id, scope, exp = body.get("client_id"), body.get("scope", ""), body.get("exp")
    if not isinstance(client_id, str) or not isinstance(scope, str) or not isinstance(exp, int | float):
        return None
    sub, username, iat = body.get("sub"), body.get("username"), body.get("iat", 0)
    return AccessToken(
        client_id=client_id,
        scope=scope,
        sub=sub if isinstance(sub, str) else None,
        iat=iat if isinstance(iat, int) else 0,
        exp=float(exp),
        username=username if isinstance(username, str) and username != sub else None,
        # RFC 9449 section 6.2: bound to a key, the middleware then accepts it only with a proof of that key.
        extra=bound_to(jkt) if isinstance(jkt, str) else {},
    )
