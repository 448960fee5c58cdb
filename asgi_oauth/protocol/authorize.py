"""The authorization endpoint (RFC 6749 section 4.1, RFC 7636, RFC 9207), without HTTP.

Validation runs in two phases so the server is never an open redirector: until the client and its
redirect URI are established, errors are shown to the user (:class:`ErrorPage`); after that they go
back to the client (:class:`Redirect` carrying ``error``, ``state`` and ``iss``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from .. import crypto
from ..errors import AccessDenied, InvalidRequest, OAuthError, UnauthorizedClient, UnsupportedResponseType
from ..models import AuthorizationCode, Client, User
from ..types import CodeChallengeMethod, ResponseType
from .context import Context
from .grants import PKCE_VALUE, issue
from .params import Params
from .scopes import narrow

_LOOPBACK_IPS = frozenset({"127.0.0.1", "::1"})  # RFC 8252 section 7.3: IP literals, not "localhost"


class ErrorPage(Exception):
    """An error that must be shown to the user, not redirected (unknown client, unregistered redirect URI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where to send the browser: the client's redirect URI with a response or an error."""

    url: str


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    redirect_uri_sent: bool
    response_type: ResponseType
    scope: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: CodeChallengeMethod | None

    def params(self) -> dict[str, str]:
        """The request as parameters, e.g. for hidden consent form fields or a login ``next`` URL."""
        values = {
            "response_type": self.response_type,
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri if self.redirect_uri_sent else None,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
        }
        return {k: v for k, v in values.items() if v is not None}

    def fingerprint(self) -> str:
        """A digest binding a consent form to exactly this request."""
        canonical = urlencode(sorted(self.params().items()))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class RedirectError(Exception):
    """An :class:`OAuthError` to deliver to the client's redirect URI."""

    def __init__(self, redirect: Redirect) -> None:
        super().__init__(redirect.url)
        self.redirect = redirect


def _loopback_http(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_IPS and parts.username is None


def _split(uri: str) -> SplitResult | None:
    try:
        return urlsplit(uri)
    except ValueError:  # e.g. "http://[::1/cb": an unclosed IPv6 literal
        return None


def redirect_uri_matches(client: Client, given: str) -> bool:
    """Exact string match, except that a public client's http loopback URI may use any port (RFC 8252 7.3)."""
    if given in client.redirect_uris:
        return True
    given_parts = _split(given)
    if given_parts is None or not client.public or given_parts.fragment or not _loopback_http(given_parts):
        return False
    for registered in client.redirect_uris:
        parts = _split(registered)
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


async def validate(ctx: Context, params: Params) -> AuthorizationRequest:
    """Check an authorization request; raises :class:`ErrorPage` or :class:`RedirectError`."""
    client_id = params.get("client_id")
    if client_id is None:
        raise ErrorPage("The request has no client_id.")
    client = await ctx.clients.get(client_id)
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
    response_type = params.get("response_type")
    # Implicit responses travel in the fragment, but only where that response type exists at all.
    fragment = response_type == "token" and ctx.settings.enable_implicit_grant
    try:
        return _validate_rest(ctx, params, client, redirect_uri, given_uri is not None, state)
    except OAuthError as error:
        raise RedirectError(error_redirect(ctx, redirect_uri, error, state, fragment=fragment)) from None


def _validate_rest(
    ctx: Context, params: Params, client: Client, redirect_uri: str, uri_sent: bool, state: str | None
) -> AuthorizationRequest:
    settings = ctx.settings
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("missing parameter response_type")
    grant_for: dict[str, str] = {"code": "authorization_code"}
    if settings.enable_implicit_grant:
        grant_for["token"] = "implicit"  # noqa: S105 (a response type)
    if response_type not in grant_for:
        raise UnsupportedResponseType("response_type must be code")
    if grant_for[response_type] not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use response_type {response_type}")
    scope = narrow(params.get("scope"), client.scopes)

    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    checked_method: CodeChallengeMethod | None = None
    if response_type == "code":
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
        raise InvalidRequest("PKCE does not apply to response_type token")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_sent=uri_sent,
        response_type="token" if response_type == "token" else "code",
        scope=scope,
        state=state,
        code_challenge=challenge,
        code_challenge_method=checked_method,
    )


def deny(ctx: Context, req: AuthorizationRequest) -> Redirect:
    error = AccessDenied("the resource owner denied the request")
    return error_redirect(ctx, req.redirect_uri, error, req.state, fragment=req.response_type == "token")


async def approve(ctx: Context, req: AuthorizationRequest, user: User) -> Redirect:
    """Issue the code (or, for the implicit grant, an access token) and build the success redirect."""
    now = ctx.clock()
    iss = ctx.settings.issuer
    if req.response_type == "token":
        # The implicit grant issues what client_credentials would, only bound to the user (never a refresh token).
        tokens = await issue(ctx, req.client, req.scope, user, refresh=False)
        values: dict[str, str | None] = {name: str(value) for name, value in tokens.body().items()}
        return build_redirect(req.redirect_uri, {**values, "state": req.state, "iss": iss}, fragment=True)
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
    )
    await ctx.store.put_code(family_id, crypto.digest(code, "code"), record_code)
    return build_redirect(req.redirect_uri, {"code": code, "state": req.state, "iss": iss})
