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
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol
from urllib.parse import urlsplit

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

from . import crypto
from .asgi import header_values, route_path
from .cors import RESPONSE_HEADERS, is_preflight, preflight_headers, send_preflight
from .dpop import jkt_of
from .dpop.resource import Refusal, ResourceDPoP, request_url
from .errors import describable
from .models import AccessToken, scope_set
from .protocol.introspect import find_access_token
from .protocol.resources import canonical_resource, protected_resource_metadata, resource_metadata_url, same_resource
from .store.base import Store, StoreUnavailable
from .types import Clock
from .validation_cache import cache_of

logger = logging.getLogger("asgi_oauth")

ScopeMode = Literal["all", "any"]
_SCOPE_KEY = "asgi_oauth.bearer"
#: The scopes of the rule that matched the request, for the challenge of a decorator behind it.
_RULE_SCOPES_KEY = "asgi_oauth.rule_scopes"
# RFC 6750 section 2.1: b64token (bytes: the header is checked before anything is decoded)
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")


class ValidationUnavailable(Exception):
    """The token could not be checked (store or introspection endpoint down): answer 503, never let it pass."""


class TokenValidator(Protocol):
    """What the middleware asks about a bearer token: the store (:class:`LocalValidator`), the introspection
    endpoint (:class:`RemoteValidator`) or JWT signatures (:class:`JWKSValidator`), or your own."""

    async def validate(self, token: str) -> AccessToken | None:
        """The live token, ``None`` if unknown/expired/revoked; raises :class:`ValidationUnavailable`."""


class MemoryValidator(TokenValidator, Protocol):
    """A validator that can also answer from memory, synchronously: the middleware's success path then
    awaits nothing. ``None`` from :meth:`remembered` only means "ask :meth:`validate`"."""

    def remembered(self, token: bytes) -> AccessToken | None:
        """The live token when memory can vouch for it now, else ``None``. ``token`` is as presented, unchecked
        (bytes from the header): only a token validated before can be remembered, so junk simply misses."""


class LocalValidator:
    """Validates against the authorization server's own store, revocation visible at once: from the store's
    worker-local cache while its revocation subscription is proven live (no round trip), else one round trip."""

    def __init__(self, store: Store, *, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock
        self._cache = cache_of(store)

    async def validate(self, token: str) -> AccessToken | None:
        try:
            return await find_access_token(self._store, token, self._clock(), self._cache)
        except StoreUnavailable as exc:
            raise ValidationUnavailable(str(exc)) from exc

    def remembered(self, token: bytes) -> AccessToken | None:
        """The token from the worker's validation cache while it is trusted (no round trip), else ``None``."""
        cache = self._cache
        return cache.access(crypto.memory_key(token), self._clock()) if cache is not None else None


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
    return granted.issuperset(required) if mode == "all" else not granted.isdisjoint(required)


@dataclass(frozen=True, slots=True)
class Denial:
    """A bearer failure per RFC 6750 section 3, rendered as HTTP or WebSocket close."""

    status: int
    error: str | None = None
    description: str | None = None
    scope: str | None = None
    #: The authentication scheme challenged: ``Bearer``, or ``DPoP`` (RFC 9449 section 7.1) with its ``algs``.
    scheme: str = "Bearer"
    algs: str | None = None
    #: A nonce the client must put in its next DPoP proof (RFC 9449 section 9), sent as ``DPoP-Nonce``.
    nonce: str | None = None

    def challenge(self, realm: str, resource_metadata: str | None = None) -> str:
        parts = [f'realm="{realm}"']
        if self.algs is not None:
            parts.append(f'algs="{self.algs}"')
        if self.error is not None:
            parts.append(f'error="{self.error}"')
        if self.description is not None:
            parts.append(f'error_description="{self.description}"')
        if self.scope is not None:
            parts.append(f'scope="{self.scope}"')
        if resource_metadata is not None:
            # RFC 9728 section 5.1: where the client finds the authorization server for this resource.
            parts.append(f'resource_metadata="{resource_metadata}"')
        return f"{self.scheme} " + ", ".join(parts)

    def response(self, realm: str, resource_metadata: str | None = None) -> Response:
        body: dict[str, str] = {"error": self.error or "invalid_request"}
        if self.status == 401 and self.error is None:
            # RFC 6750 section 3.1: no error code in the challenge when no token was sent at all.
            body = {"error": "unauthorized", "error_description": "a bearer token is required"}
        elif self.description is not None:
            body["error_description"] = self.description
        if self.scope is not None:
            body["scope"] = self.scope
        headers = {"Cache-Control": "no-store"}
        if self.nonce is not None:
            headers["DPoP-Nonce"] = self.nonce
        if self.status != 503:
            # RFC 6750 section 3: every refusal of a request without a usable token challenges, the 400s
            # included; clients (MCP's among them) find the authorization server through it.
            headers["WWW-Authenticate"] = self.challenge(realm, resource_metadata)
        else:
            headers["Retry-After"] = "1"
            if resource_metadata is not None:
                # A protected resource still says where its authorization server is, with no error code
                # (RFC 6750 has none for an outage): clients retry rather than sign in again.
                headers["WWW-Authenticate"] = Denial(503).challenge(realm, resource_metadata)
        content = json.dumps(body, separators=(",", ":")).encode()
        return Response(content, self.status, headers=headers, media_type="application/json")


MISSING = Denial(401)
INVALID = Denial(401, "invalid_token", "the access token is invalid, expired or revoked")
MALFORMED = Denial(400, "invalid_request", "malformed Authorization header")
TWO_METHODS = Denial(400, "invalid_request", "send the access token one way only, not in the header and the query")
UNAVAILABLE = Denial(503, "temporarily_unavailable", "token validation is temporarily unavailable")
OTHER_AUDIENCE = Denial(401, "invalid_token", "the access token is for another resource")
UNBOUND = Denial(401, "invalid_token", "the access token names no resource; request one for this resource")
#: RFC 9449 section 7.2: a DPoP-bound token presented as a bearer token.
BOUND_AS_BEARER = "the access token is bound to a DPoP key: send it with the DPoP scheme and a proof"
NOT_BOUND = "the access token is not bound to a DPoP key: send it as a Bearer token"


def bearer_token(scope: Scope, *, allow_query: bool = False, dpop: bool = False) -> str | Denial | None:
    """The presented token, ``None`` when there is none, or a :class:`Denial` for a malformed one.

    RFC 6750 section 2: a client must not send the token in more than one way, so a header token next
    to a query token (when query tokens are allowed at all) is refused as ``invalid_request``. With ``dpop``,
    ``Authorization: DPoP <token>`` (RFC 9449 section 7.1) is read as ``Bearer`` is; without, that scheme is
    as unknown as any other: no token.
    """
    from_header: str | Denial | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer" or (dpop and scheme.lower() == b"dpop"):
                credentials = credentials.strip()
                from_header = credentials.decode("ascii") if _B64TOKEN.fullmatch(credentials) else MALFORMED
            break
    if not allow_query:
        return from_header
    for pair in scope.get("query_string", b"").split(b"&"):
        if pair.startswith(b"access_token="):
            if from_header is not None:
                return TWO_METHODS
            value = pair[len(b"access_token=") :]
            return value.decode("ascii") if _B64TOKEN.fullmatch(value) else MALFORMED
    return from_header


def uses_dpop(scope: Scope) -> bool:
    """Whether the request's ``Authorization`` header names the DPoP scheme: its token is checked with its proof."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value[:5]).lower() == b"dpop "
    return False


class _Bearer:
    """The per-app validation core that both the middleware and :func:`requires_scopes` use.

    With a ``resource`` (RFC 8707), a token must name it as its audience: one naming another resource is
    refused, and so is one naming none unless ``allow_unbound``. Its challenges then carry
    ``resource_metadata`` (RFC 9728) and, on a 401, the scopes the request needs, so that a client can
    discover the authorization server and ask for the right token in one go.
    """

    def __init__(
        self,
        validator: TokenValidator,
        realm: str,
        allow_query: bool,
        resource: str | None = None,
        allow_unbound: bool = True,
        dpop: ResourceDPoP | None = None,
    ) -> None:
        self.validator = validator
        #: What DPoP this resource accepts (``None``: none, and DPoP-bound tokens are refused).
        self.dpop = dpop
        self.realm = realm
        self.allow_query = allow_query
        self.resource = resource
        self.canonical = canonical_resource(resource) if resource is not None else None
        self.allow_unbound = allow_unbound
        self.resource_metadata = resource_metadata_url(resource) if resource is not None else None
        remembered = getattr(validator, "remembered", None)
        #: The validator's synchronous answer from memory (:class:`MemoryValidator`), when it has one.
        self.remembered: Callable[[bytes], AccessToken | None] | None = remembered if callable(remembered) else None

    def response(self, denial: Denial) -> Response:
        return denial.response(self.realm, self.resource_metadata)

    def audience_denial(self, token: AccessToken) -> Denial | None:
        """Why ``token`` is not for this resource, or ``None`` when it is (or no resource is configured)."""
        if self.canonical is None:
            return None
        if token.resource is None:
            return None if self.allow_unbound else UNBOUND
        if token.resource == self.resource or token.resource == self.canonical:
            return None  # the common case, without parsing the URI
        return None if same_resource(token.resource, self.canonical) else OTHER_AUDIENCE

    def from_memory(self, scope: Scope, required: Sequence[str], mode: ScopeMode) -> bool | Denial:
        """The success path, synchronous: a token the validator remembers, for this resource, with the scopes
        required, is attached to the request as :meth:`authenticate` would, and ``True`` returned. ``False`` means
        nothing was decided (and nothing attached): :meth:`check` then runs the full path, refusals included. A
        DPoP-bound token's proof is judged here when replays are kept in memory, and its refusal returned, so
        that no proof is checked twice.

        Only ``Authorization: Bearer <token>`` (or ``DPoP <token>``) written the usual way is tried, and its bytes
        are looked up as they came: a remembered token was parsed and checked when it was first validated, so
        what matches it is well-formed, and anything else (another spelling, junk) just misses and takes the full
        path."""
        remembered = self.remembered
        if remembered is None:
            return False
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        elif "token" in state:
            return False  # attached before (a decorator behind a rule, a backend): the full path reuses it
        dpop = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if self.allow_query and b"access_token=" in scope["query_string"]:
                    return False  # (the full path refuses a token sent two ways)
                if value.startswith(b"Bearer "):
                    raw = value[7:]
                elif value.startswith(b"DPoP ") and self.dpop is not None and self.dpop.answers_from_memory:
                    raw, dpop = value[5:], self.dpop
                else:
                    return False
                found = remembered(raw)
                break
        else:
            return False
        if found is None or (self.canonical is not None and self.audience_denial(found) is not None):
            return False
        scopes = scope_set(found.scope)
        if required and not has_scopes(scopes, required, mode):
            return False  # (before the proof: the full path judges it, once)
        jkt = jkt_of(found.extra) if found.extra else None
        if jkt is not None or dpop is not None:
            if jkt is None or dpop is None:
                return False  # a bound token as a bearer one, or an unbound one with DPoP: the full path refuses
            refusal = dpop.refusal_from_memory(
                header_values(scope["headers"], b"dpop"),
                method=scope.get("method", "GET"),
                url=request_url(scope),
                token=raw.decode("ascii"),
                jkt=jkt,
            )
            if refusal is not None:
                return self.dpop_refused(refusal)
        state["token"] = found
        state["scopes"] = scopes
        scope["auth"] = AuthCredentials(_sorted_scopes(found.scope))
        scope["user"] = TokenUser(found)
        return True

    async def authenticate(self, scope: Scope) -> AccessToken | Denial:
        """Validate once per request; later calls reuse the result stored in the scope's state."""
        state = scope.setdefault("state", {})
        known = state.get("token")
        if isinstance(known, AccessToken):
            return known
        token = bearer_token(scope, allow_query=self.allow_query, dpop=self.dpop is not None)
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
        wrong = self.audience_denial(found)
        if wrong is not None:
            return wrong
        as_dpop = self.dpop is not None and uses_dpop(scope)
        unproven = await self.dpop_denial(scope, token, found, presented_as_dpop=as_dpop)
        if unproven is not None:
            return unproven
        scopes = scope_set(found.scope)
        state["token"] = found
        state["scopes"] = scopes
        scope["auth"] = AuthCredentials(_sorted_scopes(found.scope))
        scope["user"] = TokenUser(found)
        return found

    async def dpop_denial(
        self, scope: Scope, token: str, found: AccessToken, *, presented_as_dpop: bool
    ) -> Denial | None:
        """Why a token is refused for how it was presented (RFC 9449 section 7): a DPoP-bound one as a bearer
        token, an unbound one with the DPoP scheme, or a bound one whose proof does not hold; else ``None``."""
        jkt = jkt_of(found.extra)
        algs = self.dpop.algs if self.dpop is not None else None
        if not presented_as_dpop:
            return None if jkt is None else Denial(401, "invalid_token", BOUND_AS_BEARER, scheme="DPoP", algs=algs)
        if jkt is None or self.dpop is None:
            return Denial(401, "invalid_token", NOT_BOUND, scheme="DPoP", algs=algs)
        proofs = header_values(scope["headers"], b"dpop")
        method = scope.get("method", "GET")
        refusal = await self.dpop.refusal(proofs, method=method, url=request_url(scope), token=token, jkt=jkt)
        return None if refusal is None else self.dpop_refused(refusal)

    def dpop_refused(self, refusal: Refusal) -> Denial:
        """The ``DPoP`` challenge of a refused proof (RFC 9449 section 7.1), with the nonce to use if it lacked one."""
        algs = self.dpop.algs if self.dpop is not None else None
        why = describable(refusal.description)[:200]
        return Denial(401, refusal.error, why, scheme="DPoP", algs=algs, nonce=refusal.nonce)

    async def check(self, scope: Scope, required: Sequence[str], mode: ScopeMode) -> Denial | None:
        result = await self.authenticate(scope)
        if isinstance(result, Denial):
            return self.challenge(scope, result, required)
        if not has_scopes(scope["state"]["scopes"], required, mode):
            # Every scope the operation needs (RFC 6750 section 3.1), the matched rule's included, however the
            # route is protected: a client stepping up asks for them all at once (MCP's re-authorizes with these).
            return Denial(
                403, "insufficient_scope", "the access token lacks a required scope", _needed(scope, required)
            )
        return None

    def challenge(self, scope: Scope, denial: Denial, required: Sequence[str]) -> Denial:
        """``denial`` as answered: a 401 of a resource with metadata names the scopes the request needs."""
        if denial.status == 401 and self.resource_metadata is not None:
            needed = _needed(scope, required)
            if needed:
                return replace(denial, scope=needed)
        return denial


@functools.lru_cache(maxsize=1024)
def _sorted_scopes(scope: str) -> tuple[str, ...]:
    """A scope string's scopes in order, as ``request.auth.scopes`` lists them (a list made per request)."""
    return tuple(sorted(scope_set(scope)))


def _needed(scope: Scope, required: Sequence[str]) -> str:
    """``required`` after the scopes of the rule that already let the request in, each once."""
    rule_scopes: tuple[str, ...] = scope.get(_RULE_SCOPES_KEY, ())
    return " ".join(dict.fromkeys((*rule_scopes, *required)))


_UNKNOWN = object()
#: Most (method, path) pairs whose rule a middleware remembers.
_RULE_MEMO = 4096

# Shared by every anonymous request (neither holds per-request state), so none pays for new objects.
_ANONYMOUS_AUTH = AuthCredentials()
_ANONYMOUS_USER = UnauthenticatedUser()


class BearerTokenMiddleware:
    """Pure ASGI middleware guarding the paths in ``rules`` (HTTP and WebSocket); lifespan passes through.

    Given ``resource`` (the absolute URI of what it protects, e.g. ``https://api.example/mcp``) it is an
    RFC 9728 protected resource: it serves its metadata at ``/.well-known/oauth-protected-resource<path of
    resource>`` (naming ``authorization_servers`` and ``scopes_supported``, by default every rule's scopes),
    points every challenge there, and accepts only tokens whose RFC 8707 audience is ``resource``;
    ``allow_unbound_tokens=True`` also accepts tokens issued without any ``resource``. The middleware
    must then sit at the host's root, where the metadata path is.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        validator: TokenValidator,
        rules: Sequence[Rule] = (),
        realm: str = "asgi_oauth",
        allow_query_token: bool = False,
        resource: str | None = None,
        authorization_servers: Sequence[str] = (),
        scopes_supported: Iterable[str] | None = None,
        resource_name: str | None = None,
        allow_unbound_tokens: bool = False,
        dpop: ResourceDPoP | None = None,
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        if resource is not None and not authorization_servers:
            raise ValueError("a resource needs its authorization_servers (the issuers whose tokens it accepts)")
        self._bearer = _Bearer(validator, realm, allow_query_token, resource, allow_unbound_tokens, dpop)
        self.metadata_path: str | None = None
        if resource is not None and self._bearer.resource_metadata is not None:
            scopes = scopes_supported if scopes_supported is not None else (s for r in self.rules for s in r.scopes)
            #: The RFC 9728 document this middleware serves.
            self.metadata = protected_resource_metadata(
                resource, authorization_servers, scopes, resource_name=resource_name
            )
            self.metadata_path = urlsplit(self._bearer.resource_metadata).path
            self._metadata_app = _MetadataDocument(json.dumps(self.metadata, separators=(",", ":")).encode())
        #: The rule of each (method, path) seen, ``None`` for none: rules are matched in order once per path, not
        #: on every request. Bounded: past ``_RULE_MEMO`` paths it starts over.
        self._rule_of: dict[tuple[str, str], Rule | None] = {}

    def rule_for(self, method: str, path: str) -> Rule | None:
        """The first rule covering ``method`` on ``path`` (relative to the root path), or ``None``."""
        key = (method, path)
        known = self._rule_of.get(key, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        if len(self._rule_of) >= _RULE_MEMO:
            self._rule_of.clear()  # many distinct paths (ids in them): matching each anew costs what it did
        self._rule_of[key] = rule
        return rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path == self.metadata_path and kind == "http":
            await self._metadata_app(scope, receive, send)
            return
        bearer = self._bearer
        scope[_SCOPE_KEY] = bearer
        rule = self.rule_for(scope.get("method", "GET"), path)
        if rule is not None:
            judged = bearer.from_memory(scope, rule.scopes, rule.mode)
            if judged is not True:
                if judged is False:
                    denial = await bearer.check(scope, rule.scopes, rule.mode)
                else:
                    denial = bearer.challenge(scope, judged, rule.scopes)
                if denial is not None:
                    await _deny(denial, bearer, scope, receive, send)
                    return
            if rule.scopes:
                scope[_RULE_SCOPES_KEY] = rule.scopes
        # Anonymous unless a token was validated, as AuthenticationMiddleware does: ``requires(...)`` then
        # answers 403 on an uncovered route instead of failing its ``request.auth`` assertion with a 500.
        if "auth" not in scope:
            scope["auth"] = _ANONYMOUS_AUTH
            scope["user"] = _ANONYMOUS_USER
        await self.app(scope, receive, send)


class _MetadataDocument:
    """The protected resource metadata: JSON, cacheable, readable from any origin (browser-based clients)."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            (b"cache-control", b"public, max-age=3600"),
            *RESPONSE_HEADERS,
        ]
        self.preflight = preflight_headers(("GET", "HEAD"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "OPTIONS" and is_preflight(scope):
            await send_preflight(send, self.preflight)
            return
        if method not in ("GET", "HEAD"):
            await Response(status_code=405, headers={"Allow": "GET, HEAD, OPTIONS"})(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else self.content})


async def _deny(denial: Denial, bearer: _Bearer, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        # Refused before accept: the handshake fails (HTTP 403 from the server), nothing is exchanged.
        await send({"type": "websocket.close", "code": 1008, "reason": denial.error or "unauthorized"})
        return
    await bearer.response(denial)(scope, receive, send)


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
                return bearer.response(denial)
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
        self,
        validator: TokenValidator,
        *,
        allow_query_token: bool = False,
        realm: str = "asgi_oauth",
        resource: str | None = None,
        allow_unbound_tokens: bool = False,
    ) -> None:
        self._bearer = _Bearer(validator, realm, allow_query_token, resource, allow_unbound_tokens)
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
            return self._bearer.response(exc.denial)
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
    return bearer.response(denial) if denial is not None else None
