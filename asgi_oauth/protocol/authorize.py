"""The authorization endpoint (RFC 6749 section 4.1, RFC 7636, RFC 9207), without HTTP.

Validation runs in two phases so the server is never an open redirector: until the client and its
redirect URI are established, errors are shown to the user (:class:`ErrorPage`); after that they go
back to the client (:class:`Redirect` carrying ``error``, ``state`` and ``iss``).

Response types are a registry like the grants: each :class:`ResponseTypeSpec` says which grant a client
needs for it, where its answer travels (query or fragment), whether PKCE applies, and what it issues.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from .. import crypto
from ..cimd.documents import DocumentError
from ..errors import AccessDenied, InvalidRequest, OAuthError, UnauthorizedClient, UnsupportedResponseType
from ..models import AuthorizationCode, Client, User
from ..registry import switched_on
from ..settings import OAuthSettings
from ..types import CodeChallengeMethod
from .context import Context
from .grants import PKCE_VALUE, always, issue
from .params import Params
from .scopes import narrow
from .targets import requested_resource

#: Hosts whose http redirect URIs a public client may use on any port: RFC 8252 section 7.3's loopback IP
#: literals, and ``localhost``, which MCP clients use by default (FastMCP's client among them). Section 8.3
#: calls ``localhost`` NOT RECOMMENDED because a name can resolve off the device; browsers resolve it to
#: loopback themselves (the W3C secure-context rules), a registration names the same host the request does
#: (``localhost`` never matches ``127.0.0.1``), and the port is the only part left free, as for the literals.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# RFC 6749 appendix A.3: response-name *( SP response-name ), response-char = "_" / DIGIT / ALPHA
_RESPONSE_TYPE = re.compile(r"[A-Za-z0-9_]+( [A-Za-z0-9_]+)*")


class ErrorPage(Exception):
    """An error that must be shown to the user, not redirected (unknown client, unregistered redirect URI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where to send the browser: the client's redirect URI with a response or an error."""

    url: str


#: Issues what a response type answers, as the redirect's parameters (``{"code": ...}``); ``None`` values are left out.
Respond = Callable[[Context, "AuthorizationRequest", User], Awaitable[Mapping[str, str | None]]]


@dataclass(frozen=True, slots=True)
class ResponseTypeSpec:
    """One ``response_type`` of the authorization endpoint (RFC 6749 section 3.1.1).

    The metadata's ``response_types_supported`` and ``response_modes_supported``, the authorization
    endpoint's dispatch and its OpenAPI enum all come from the enabled specs.
    """

    name: str
    #: The grant type a client must be registered for; also listed in ``grant_types_supported``.
    grant_type: str
    respond: Respond
    #: Where the answer travels: the redirect URI's query, or its fragment (RFC 6749 section 4.2.2).
    response_mode: Literal["query", "fragment"] = "query"
    #: Whether PKCE (RFC 7636) applies; where it does not, a ``code_challenge`` is refused.
    pkce: bool = False
    #: Whether these settings switch the response type on.
    enabled: Callable[[OAuthSettings], bool] = always

    def __post_init__(self) -> None:
        if not _RESPONSE_TYPE.fullmatch(self.name):
            raise ValueError(f"response type {self.name!r} is not one by RFC 6749 appendix A.3")


class RequestPart(Protocol):
    """A feature's part of an authorization request (:meth:`asgi_oauth.features.Feature.authorization_request`)."""

    def params(self) -> Mapping[str, str]:
        """Its parameters, carried through sign-in and consent with the request's own."""

    def marks(self) -> Mapping[str, str]:
        """The parameters the server itself added (a signed marker), carried even when a feature's continuation
        stands in for the request's parameters."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """An authorization request once validated: the client, where the answer goes, what is asked for and the
    PKCE challenge. Features see it in their authorization hooks and add their parts to ``extra``."""

    client: Client
    redirect_uri: str
    redirect_uri_sent: bool
    response: ResponseTypeSpec
    scope: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: CodeChallengeMethod | None
    #: The resource (RFC 8707, canonical) the tokens will be for; ``None`` when the client named none.
    resource: str | None = None
    #: The switched-on features' parts of the request, by feature name (OpenID Connect's ``nonce``, ``prompt``...).
    extra: Mapping[str, RequestPart] = field(default_factory=dict, hash=False)
    #: What carries the request through sign-in and consent instead of its parameters, when a feature said so
    #: (:class:`asgi_oauth.features.AuthorizationInput`): PAR's ``client_id`` and ``request_uri``.
    continuation: Mapping[str, str] | None = None

    @property
    def response_type(self) -> str:
        return self.response.name

    @property
    def fragment(self) -> bool:
        """Whether answers go in the redirect URI's fragment rather than its query."""
        return self.response.response_mode == "fragment"

    def params(self) -> dict[str, str]:
        """The request as parameters, e.g. for hidden consent form fields or a login ``next`` URL."""
        if self.continuation is not None:
            carried = dict(self.continuation)
            for part in self.extra.values():
                carried.update(part.marks())  # the server's own markers, beside what a feature carries
            return carried
        values = {
            "response_type": self.response_type,
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri if self.redirect_uri_sent else None,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "resource": self.resource,
        }
        for part in self.extra.values():
            values.update(part.params())
        return {k: v for k, v in values.items() if v is not None}

    def with_part(self, name: str, part: RequestPart) -> AuthorizationRequest:
        """This request with feature ``name``'s part replaced (say, with a marker added)."""
        return replace(self, extra={**self.extra, name: part})

    def fingerprint(self) -> str:
        """A digest binding a consent form to exactly this request."""
        canonical = urlencode(sorted(self.params().items()))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SignInAgain:
    """What :meth:`asgi_oauth.features.Feature.authorization_user` answers when the user must sign in (again)
    first: the request to come back with (carrying what tells the new sign-in from the old session) and what
    to add to the sign-in page's URL (``login_hint``, ``prompt=login``)."""

    request: AuthorizationRequest
    query: Mapping[str, str] = field(default_factory=dict, hash=False)


class RedirectError(Exception):
    """An :class:`OAuthError` to deliver to the client's redirect URI."""

    def __init__(self, redirect: Redirect) -> None:
        super().__init__(redirect.url)
        self.redirect = redirect


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _loopback_http(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS and parts.username is None


def _split(uri: str, *, registered: bool = False) -> SplitResult | None:
    if _CONTROL_OR_SPACE.search(uri):
        # urlsplit drops tabs and newlines anywhere and control characters and spaces at either end: the parts
        # would be those of another URI, which the loopback rule would then match and redirect to.
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. "http://[::1/cb": an unclosed IPv6 literal
        return None
    if registered and parts.netloc.endswith(":*"):
        # A registered loopback URI may spell "any port" as a wildcard (as FastMCP's own server accepts): the
        # rule below already allows any port, so the wildcard is read as no port at all.
        parts = parts._replace(netloc=parts.netloc[:-2])
    return parts


def redirect_uri_matches(client: Client, given: str) -> bool:
    """Exact string match, except that a public client's http loopback URI (an IP literal or ``localhost``,
    matched to the same host) may use any port (RFC 8252 section 7.3)."""
    if given in client.redirect_uris:
        return True
    given_parts = _split(given)
    if given_parts is None or not client.public or given_parts.fragment or not _loopback_http(given_parts):
        return False
    for registered in client.redirect_uris:
        parts = _split(registered, registered=True)
        if (
            parts is not None
            and _loopback_http(parts)
            and (parts.hostname, parts.path, parts.query)
            == (
                given_parts.hostname,
                given_parts.path,
                given_parts.query,
            )
        ):
            return True
    return False


def build_redirect(base: str, values: dict[str, str | None], *, fragment: bool = False) -> Redirect:
    """``base`` with ``values`` added to its query (or fragment, for the implicit grant), keeping what was there."""
    parts = urlsplit(base)
    extra = urlencode({k: v for k, v in values.items() if v is not None})
    if fragment:
        return Redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, extra)))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return Redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))


def error_redirect(
    ctx: Context, redirect_uri: str, error: OAuthError, state: str | None, *, fragment: bool
) -> Redirect:
    values: dict[str, str | None] = {"error": error.error, "error_description": error.description or None}
    values |= {"state": state, "iss": ctx.settings.issuer}
    return build_redirect(redirect_uri, values, fragment=fragment)


async def validate(
    ctx: Context, params: Params, response_types: Mapping[str, ResponseTypeSpec], *, sent: Params | None = None
) -> AuthorizationRequest:
    """Check an authorization request against the enabled ``response_types``, then let the switched-on features
    add their parts (``sent``: what the browser sent, when a feature stood other ``params`` in for it).

    Raises :class:`ErrorPage` or :class:`RedirectError`.
    """
    client_id = params.get("client_id")
    if client_id is None:
        raise ErrorPage("The request has no client_id.")
    try:
        client = await ctx.clients.get(client_id)
    except DocumentError as error:
        raise ErrorPage(f"The application's metadata document cannot be used: {error}.") from None
    if client is None:
        raise ErrorPage("The application asking for access is not registered here.")
    given_uri = params.get("redirect_uri")
    if given_uri is not None:
        if not redirect_uri_matches(client, given_uri):
            raise ErrorPage("The redirect URI is not registered for this application.")
        redirect_uri = given_uri
    elif len(client.redirect_uris) == 1:
        redirect_uri = client.redirect_uris[0]
    else:
        raise ErrorPage("The request has no redirect_uri and the application registered more than one.")

    state = params.get("state")
    # Errors travel where the response would (fragment for implicit), but only for an enabled response type.
    spec = response_types.get(params.get("response_type") or "")
    fragment = spec is not None and spec.response_mode == "fragment"
    try:
        req = _validate_rest(ctx, params, client, redirect_uri, given_uri is not None, state, response_types)
        parts: dict[str, RequestPart] = {}
        for feature in ctx.features:
            part = await feature.authorization_request(ctx, req, params, params if sent is None else sent)
            if part is not None:
                parts[feature.name] = part
        return replace(req, extra=parts) if parts else req
    except OAuthError as error:
        raise RedirectError(error_redirect(ctx, redirect_uri, error, state, fragment=fragment)) from None


def _validate_rest(
    ctx: Context,
    params: Params,
    client: Client,
    redirect_uri: str,
    uri_sent: bool,
    state: str | None,
    response_types: Mapping[str, ResponseTypeSpec],
) -> AuthorizationRequest:
    settings = ctx.settings
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("missing parameter response_type")
    spec = response_types.get(response_type)
    if spec is None:
        raise UnsupportedResponseType(f"response_type must be {' or '.join(response_types) or 'one this server has'}")
    if spec.grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use response_type {response_type}")
    scope = narrow(params.get("scope"), client.scopes)
    resource = requested_resource(params, settings.resources)

    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    checked_method: CodeChallengeMethod | None = None
    if spec.pkce:
        if challenge is None:
            if method is not None:
                raise InvalidRequest("code_challenge_method sent without code_challenge")
            if client.public or settings.require_pkce:
                raise InvalidRequest("code_challenge is required (PKCE, RFC 7636)")
        else:
            # RFC 7636 section 4.3: an absent method means plain.
            if method in (None, "plain") and settings.allow_plain_pkce:
                checked_method = "plain"
            elif method == "S256":
                checked_method = "S256"
            else:
                raise InvalidRequest("code_challenge_method must be S256")
            if not PKCE_VALUE.fullmatch(challenge):
                raise InvalidRequest("code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~")
    elif challenge is not None:
        raise InvalidRequest(f"PKCE does not apply to response_type {response_type}")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_sent=uri_sent,
        response=spec,
        scope=scope,
        state=state,
        code_challenge=challenge,
        code_challenge_method=checked_method,
        resource=resource,
    )


def deny(ctx: Context, req: AuthorizationRequest) -> Redirect:
    error = AccessDenied("the resource owner denied the request")
    return error_redirect(ctx, req.redirect_uri, error, req.state, fragment=req.fragment)


async def approve(ctx: Context, req: AuthorizationRequest, user: User) -> Redirect:
    """Issue what the response type answers (a code, an access token, ...) and build the success redirect."""
    values = await req.response.respond(ctx, req, user)
    iss = ctx.settings.issuer
    return build_redirect(req.redirect_uri, {**values, "state": req.state, "iss": iss}, fragment=req.fragment)


async def respond_code(ctx: Context, req: AuthorizationRequest, user: User) -> Mapping[str, str | None]:
    """``response_type=code`` (RFC 6749 section 4.1.2): a single-use code bound to the request and its PKCE."""
    now = ctx.clock()
    family_id, code = crypto.new_token()
    record_code = AuthorizationCode(
        client_id=req.client.client_id,
        redirect_uri=req.redirect_uri,
        redirect_uri_sent=req.redirect_uri_sent,
        scope=req.scope,
        sub=user.sub,
        exp=now + ctx.settings.authorization_code_lifetime,
        code_challenge=req.code_challenge,
        code_challenge_method=req.code_challenge_method,
        username=user.username,
        resource=req.resource,
        auth_time=None if user.auth_time is None else int(user.auth_time),
        extra=await _code_extra(ctx, req, user),
    )
    await ctx.store.put_code(family_id, crypto.digest(code, "code"), record_code)
    return {"code": code}


async def _code_extra(ctx: Context, req: AuthorizationRequest, user: User) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for feature in ctx.features:
        extra.update(await feature.code_extra(ctx, req, user))
    return extra


async def respond_token(ctx: Context, req: AuthorizationRequest, user: User) -> Mapping[str, str | None]:
    """``response_type=token`` (RFC 6749 section 4.2.2): what client_credentials would issue, bound to the user.

    Never a refresh token: the implicit grant has no client authentication to protect one.
    """
    tokens = await issue(ctx, req.client, req.scope, user, refresh=False, resource=req.resource)
    ctx.events.emit(
        "issued", client_id=req.client.client_id, user=user.sub, family_id=tokens.family_id, what="implicit"
    )
    return {name: str(value) for name, value in tokens.body().items()}


def _implicit_enabled(settings: OAuthSettings) -> bool:
    return settings.enable_implicit_grant


#: The response types built in; ``token`` (the implicit grant) follows ``enable_implicit_grant``.
DEFAULT_RESPONSE_TYPES: tuple[ResponseTypeSpec, ...] = (
    ResponseTypeSpec("code", "authorization_code", respond_code, pkce=True),
    ResponseTypeSpec("token", "implicit", respond_token, response_mode="fragment", enabled=_implicit_enabled),
)


def enabled_response_types(
    settings: OAuthSettings, specs: Iterable[ResponseTypeSpec] = DEFAULT_RESPONSE_TYPES
) -> dict[str, ResponseTypeSpec]:
    """The response types these settings switch on, by name, in the order given; a name given twice is an error."""
    return switched_on(settings, specs, lambda spec: spec.name, "response type")
