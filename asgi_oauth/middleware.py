"""Resource-server side: validate bearer tokens (RFC 6750) in front of the host app's routes.

``BearerTokenMiddleware`` is a pure ASGI middleware. On a protected path it reads
``Authorization: Bearer``, validates the token once, and writes into the ASGI scope:

* ``scope["state"]["token"]`` (an :class:`~asgi_oauth.models.AccessToken`) and ``["scopes"]`` (frozenset),
  seen by the app as ``request.state.token`` / ``request.state.scopes``;
* ``scope["auth"]`` / ``scope["user"]`` as Starlette's ``AuthenticationMiddleware`` would, so
  ``starlette.authentication.requires(...)`` works unchanged.

Paths no rule covers pass through untouched and cost no store round trip; endpoints there can still
opt in with :func:`requires_scopes`, which validates on demand through the same middleware.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import route_path
from .models import AccessToken, scope_set
from .protocol.introspect import find_access_token
from .store.base import Store, StoreUnavailable
from .types import Clock

logger = logging.getLogger("asgi_oauth")

ScopeMode = Literal["all", "any"]
_SCOPE_KEY = "asgi_oauth.bearer"
# RFC 6750 section 2.1: b64token
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class ValidationUnavailable(Exception):
    """The token could not be checked (store or introspection endpoint down): answer 503, never let it pass."""


class TokenValidator(Protocol):
    async def validate(self, token: str) -> AccessToken | None:
        """The live token, ``None`` if unknown/expired/revoked; raises :class:`ValidationUnavailable`."""


class LocalValidator:
    """Validates against the authorization server's own store: one round trip, revocation visible at once."""

    def __init__(self, store: Store, *, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock

    async def validate(self, token: str) -> AccessToken | None:
        try:
            return await find_access_token(self._store, token, self._clock())
        except StoreUnavailable as exc:
            raise ValidationUnavailable(str(exc)) from exc


class TokenUser(BaseUser):
    """The ``request.user`` of a bearer request: the resource owner, or the client itself for client_credentials."""

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.username or self.token.sub or self.token.client_id

    @property
    def identity(self) -> str:
        return self.token.sub or self.token.client_id


@dataclass(frozen=True, slots=True)
class Rule:
    """Protect ``path``: a prefix at segment boundaries (``/api`` covers ``/api/x``, not ``/apix``), or a
    Starlette route pattern when it contains ``{``. ``methods=None`` covers every method; a rule covering
    ``GET`` also covers ``HEAD``, which Starlette answers with the same endpoint.

    Paths are matched the way Starlette matches routes: relative to the ``root_path``, so the rules of a
    sub-app mounted at ``/v1`` are written like its own routes (``/items``, not ``/v1/items``)."""

    path: str
    scopes: tuple[str, ...] = ()
    methods: frozenset[str] | None = None
    mode: ScopeMode = "all"
    # Derived once: the compiled pattern, or the prefix without its trailing slash.
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _base: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if "{" in self.path:
            object.__setattr__(self, "_pattern", compile_path(self.path)[0])
        object.__setattr__(self, "_base", self.path.rstrip("/"))

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None:
            effective = "GET" if method == "HEAD" and "HEAD" not in self.methods else method
            if effective not in self.methods:
                return False
        if self._pattern is not None:
            return self._pattern.match(path) is not None
        base = self._base
        return path == base or path.startswith(base + "/") or (base == "" and path.startswith("/"))


def protect(path: str, *scopes: str, methods: Iterable[str] | None = None, mode: ScopeMode = "all") -> Rule:
    """Shorthand: ``protect("/api", "read")``."""
    return Rule(path, tuple(scopes), frozenset(m.upper() for m in methods) if methods is not None else None, mode)


def has_scopes(granted: frozenset[str], required: Sequence[str], mode: ScopeMode) -> bool:
    """``all``: every required scope is granted; ``any``: at least one is (no requirement always passes)."""
    if not required:
        return True
    return all(s in granted for s in required) if mode == "all" else any(s in granted for s in required)


@dataclass(frozen=True, slots=True)
class Denial:
    """A bearer failure per RFC 6750 section 3, rendered as HTTP or WebSocket close."""

    status: int
    error: str | None = None
    description: str | None = None
    scope: str | None = None

    def challenge(self, realm: str) -> str:
        parts = [f'realm="{realm}"']
        if self.error is not None:
            parts.append(f'error="{self.error}"')
        if self.description is not None:
            parts.append(f'error_description="{self.description}"')
        if self.scope is not None:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def response(self, realm: str) -> Response:
        body: dict[str, str] = {"error": self.error or "invalid_request"}
        if self.status == 401 and self.error is None:
            # RFC 6750 section 3.1: no error code in the challenge when no token was sent at all.
            body = {"error": "unauthorized", "error_description": "a bearer token is required"}
        elif self.description is not None:
            body["error_description"] = self.description
        if self.scope is not None:
            body["scope"] = self.scope
        headers = {"Cache-Control": "no-store"}
        if self.status != 503:
            # RFC 6750 section 3: every refusal of a request without a usable token challenges, the 400s
            # included; clients (MCP's among them) find the authorization server through it.
            headers["WWW-Authenticate"] = self.challenge(realm)
        content = json.dumps(body, separators=(",", ":")).encode()
        return Response(content, self.status, headers=headers, media_type="application/json")


MISSING = Denial(401)
INVALID = Denial(401, "invalid_token", "the access token is invalid, expired or revoked")
MALFORMED = Denial(400, "invalid_request", "malformed Authorization header")
TWO_METHODS = Denial(400, "invalid_request", "send the access token one way only, not in the header and the query")
UNAVAILABLE = Denial(503, "temporarily_unavailable", "token validation is temporarily unavailable")


def bearer_token(scope: Scope, *, allow_query: bool = False) -> str | Denial | None:
    """The presented token, ``None`` when there is none, or a :class:`Denial` for a malformed one.

    RFC 6750 section 2: a client must not send the token in more than one way, so a header token next
    to a query token (when query tokens are allowed at all) is refused as ``invalid_request``.
    """
    from_header: str | Denial | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                credentials = credentials.strip()
                from_header = credentials if _B64TOKEN.fullmatch(credentials) else MALFORMED
            break
    if not allow_query:
        return from_header
    for pair in scope.get("query_string", b"").split(b"&"):
        if pair.startswith(b"access_token="):
            if from_header is not None:
                return TWO_METHODS
            value = pair[len(b"access_token=") :].decode("latin-1")
            return value if _B64TOKEN.fullmatch(value) else MALFORMED
    return from_header


class _Bearer:
    """The per-app validation core that both the middleware and :func:`requires_scopes` use."""

    def __init__(self, validator: TokenValidator, realm: str, allow_query: bool) -> None:
        self.validator = validator
        self.realm = realm
        self.allow_query = allow_query

    async def authenticate(self, scope: Scope) -> AccessToken | Denial:
        """Validate once per request; later calls reuse the result stored in the scope's state."""
        state = scope.setdefault("state", {})
        known = state.get("token")
        if isinstance(known, AccessToken):
            return known
        token = bearer_token(scope, allow_query=self.allow_query)
        if token is None:
            return MISSING
        if isinstance(token, Denial):
            return token
        try:
            found = await self.validator.validate(token)
        except ValidationUnavailable as exc:
            logger.warning("bearer validation unavailable: %s", exc)
            return UNAVAILABLE
        if found is None:
            return INVALID
        scopes = scope_set(found.scope)
        state["token"] = found
        state["scopes"] = scopes
        scope["auth"] = AuthCredentials(sorted(scopes))
        scope["user"] = TokenUser(found)
        return found

    async def check(self, scope: Scope, required: Sequence[str], mode: ScopeMode) -> Denial | None:
        result = await self.authenticate(scope)
        if isinstance(result, Denial):
            return result
        if not has_scopes(scope["state"]["scopes"], required, mode):
            return Denial(403, "insufficient_scope", "the access token lacks a required scope", " ".join(required))
        return None


# Shared by every anonymous request (neither holds per-request state), so none pays for new objects.
_ANONYMOUS_AUTH = AuthCredentials()
_ANONYMOUS_USER = UnauthenticatedUser()


class BearerTokenMiddleware:
    """Pure ASGI middleware guarding the paths in ``rules`` (HTTP and WebSocket); lifespan passes through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        validator: TokenValidator,
        rules: Sequence[Rule] = (),
        realm: str = "asgi_oauth",
        allow_query_token: bool = False,
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self._bearer = _Bearer(validator, realm, allow_query_token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[_SCOPE_KEY] = self._bearer
        # Anonymous until a token is validated, as AuthenticationMiddleware does: ``requires(...)`` then
        # answers 403 on an uncovered route instead of failing its ``request.auth`` assertion with a 500.
        if "auth" not in scope:
            scope["auth"] = _ANONYMOUS_AUTH
            scope["user"] = _ANONYMOUS_USER
        method = scope.get("method", "GET")
        path = route_path(scope)
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        if rule is not None:
            denial = await self._bearer.check(scope, rule.scopes, rule.mode)
            if denial is not None:
                await _deny(denial, self._bearer.realm, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _deny(denial: Denial, realm: str, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        # Refused before accept: the handshake fails (HTTP 403 from the server), nothing is exchanged.
        await send({"type": "websocket.close", "code": 1008, "reason": denial.error or "unauthorized"})
        return
    await denial.response(realm)(scope, receive, send)


Endpoint = Callable[[Request], Awaitable[Response]]


def requires_scopes(*scopes: str, mode: ScopeMode = "all") -> Callable[[Endpoint], Endpoint]:
    """Protect one Starlette endpoint (``async def endpoint(request)``), validating on demand.

    ``mode="all"`` needs every listed scope, ``mode="any"`` at least one. The app must run behind
    :class:`BearerTokenMiddleware` (with or without rules), which supplies the validator.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            bearer = request.scope.get(_SCOPE_KEY)
            if not isinstance(bearer, _Bearer):
                raise RuntimeError("requires_scopes needs BearerTokenMiddleware in front of the app")
            denial = await bearer.check(request.scope, scopes, mode)
            if denial is not None:
                return denial.response(bearer.realm)
            return await endpoint(request)

        return guarded

    return decorate


class BearerAuthError(AuthenticationError):
    """Raised by :class:`BearerAuthBackend`; carries the RFC 6750 answer that its ``on_error`` renders."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.error or "unauthorized")
        self.denial = denial


class BearerAuthBackend(AuthenticationBackend):
    """For apps already using Starlette's ``AuthenticationMiddleware``: bearer tokens as its backend.

    No token: anonymous (``None``). A bad token, or the store being down, raises :class:`BearerAuthError`:
    a request is never let through unchecked. Starlette answers those with a plain 400 unless given
    ``on_error``; pass this backend's :meth:`on_error` for RFC 6750 answers (401 ``invalid_token`` with
    ``WWW-Authenticate``, 503 when validation is unavailable)::

        backend = BearerAuthBackend(LocalValidator(store))
        Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)
    """

    def __init__(
        self, validator: TokenValidator, *, allow_query_token: bool = False, realm: str = "asgi_oauth"
    ) -> None:
        self._bearer = _Bearer(validator, realm, allow_query_token)
        self.realm = realm

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        result = await self._bearer.authenticate(conn.scope)
        if result is MISSING:
            return None
        if isinstance(result, Denial):
            raise BearerAuthError(result)
        return conn.scope["auth"], conn.scope["user"]

    def on_error(self, conn: HTTPConnection, exc: AuthenticationError) -> Response:
        """``on_error`` for ``AuthenticationMiddleware``: the RFC 6750 answer for this backend's errors."""
        if isinstance(exc, BearerAuthError):
            return exc.denial.response(self.realm)
        return Response(str(exc), 400, media_type="text/plain")


async def bearer_refusal(conn: HTTPConnection, *scopes: str, mode: ScopeMode = "all") -> Response | None:
    """The middleware's own RFC 6750 answer refusing ``conn`` (401, 403, 400 or 503), or ``None`` when its
    token holds ``scopes``; validates on demand like :func:`requires_scopes`.

    For code that cannot return a response itself, such as a FastAPI dependency: raise an exception
    carrying it and send it from an exception handler (``examples/fastapi_app.py``), so every refusal
    has the same status, body and challenge whichever way the route is protected.
    """
    bearer = conn.scope.get(_SCOPE_KEY)
    if not isinstance(bearer, _Bearer):
        raise RuntimeError("bearer_refusal needs BearerTokenMiddleware in front of the app")
    denial = await bearer.check(conn.scope, scopes, mode)
    return denial.response(bearer.realm) if denial is not None else None
