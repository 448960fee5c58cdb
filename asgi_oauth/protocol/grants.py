"""The token endpoint (RFC 6749 section 3.2): one async function per grant type and a registry.

A grant receives the authenticated client and the parsed body, and returns the tokens it issued.
Adding a grant means writing one function and listing a :class:`GrantSpec` for it:
``OAuthServer(grants=[*DEFAULT_GRANTS, GrantSpec("urn:example:my-grant", my_grant)])``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .. import crypto
from ..errors import InvalidGrant, InvalidRequest, OAuthError, UnauthorizedClient, UnsupportedGrantType
from ..frozen import slot_init
from ..models import AccessToken, AuthorizationCode, Client, CodeReplayed, Outcome, TokenFamily, User, scope_set
from ..operations.events import EventKind
from ..registry import switched_on
from ..settings import OAuthSettings
from .client_auth import authenticate
from .context import Context
from .params import Incoming
from .ratelimit import Attempt
from .scopes import narrow
from .targets import requested_resource, within

#: What the features bound the token request being answered to (:meth:`Feature.token_request`), per request.
_BOUND: ContextVar[Mapping[str, Any] | None] = ContextVar("asgi_oauth_bound", default=None)
_NOTHING: Mapping[str, Any] = MappingProxyType({})


def bound() -> Mapping[str, Any]:
    """What the features bound the token request being answered to (their ``token_request`` answers, by feature
    key); empty outside one, or when nothing was bound."""
    return _BOUND.get() or _NOTHING


# RFC 7636 section 4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

# One description per outcome the store reports (``Outcome``), so a client and an operator can tell them apart.
CODE_MISSING = "invalid or expired authorization code"
CODE_REUSED = "authorization code was already used; tokens issued from it are revoked"
REFRESH_MISSING = "invalid or expired refresh token"
REFRESH_REUSED = "refresh token was already used; its grant is revoked"


@slot_init
@dataclass(frozen=True, slots=True)
class TokenResponse:
    """What a grant issued, before it is sent as the token response (RFC 6749 section 5.1); the fields marked
    "never sent" are for events and features."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    refresh_token_expires_in: int | None = None
    #: For events, never sent: the family the tokens belong to and their user's subject.
    family_id: str | None = None
    user: str | None = None
    #: Never sent: what the tokens were issued from (the code exchanged, or the refresh family before this
    #: rotation), for the features' :meth:`~asgi_oauth.features.Feature.token_fields`; ``None`` for other grants.
    issued: AuthorizationCode | TokenFamily | None = None
    #: Fields the switched-on features add (:meth:`asgi_oauth.features.Feature.token_fields`).
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
            body["refresh_token_expires_in"] = self.refresh_token_expires_in
        if self.fields:
            body.update(self.fields)
        return body


Grant = Callable[[Context, Client, Incoming], Awaitable[TokenResponse]]


@slot_init
@dataclass(frozen=True, slots=True)
class Minted:
    family_id: str
    access: str
    access_record: AccessToken
    refresh: str | None
    family: TokenFamily | None
    #: Seconds the access token lives: the setting's, or less when the grant capped its expiry.
    access_lifetime: float

    def response(self, ctx: Context) -> TokenResponse:
        settings = ctx.settings
        sub = self.access_record.sub
        if self.refresh is None:
            lifetime = round(self.access_lifetime)
            return TokenResponse(self.access, lifetime, self.access_record.scope, family_id=self.family_id, user=sub)
        return TokenResponse(
            self.access,
            round(self.access_lifetime),
            self.access_record.scope,
            self.refresh,
            round(settings.refresh_token_lifetime),
            family_id=self.family_id,
            user=sub,
        )


def mint(
    ctx: Context,
    client_id: str,
    scope: str,
    user: User | None,
    *,
    refresh: bool,
    family_id: str | None = None,
    family_scope: str | None = None,
    resource: str | None = None,
    expires: float | None = None,
) -> Minted:
    """New token values and their records; the refresh family keeps ``family_scope`` (default ``scope``) and,
    like the access token, is for ``resource``. ``expires``: the access token lives no longer than that."""
    now = ctx.clock()
    family_id, access = crypto.new_token(family_id)
    lifetime = ctx.settings.access_token_lifetime
    if expires is not None:
        lifetime = max(0.0, min(lifetime, expires - now))
    record = AccessToken(
        client_id=client_id,
        scope=scope,
        sub=user.sub if user else None,
        iat=int(now),
        exp=now + lifetime,
        username=user.username if user else None,
        resource=resource,
    )
    if not refresh:
        return Minted(family_id, access, record, None, None, lifetime)
    _, refresh_token = crypto.new_token(family_id)
    family = TokenFamily(
        refresh_digest=crypto.digest(refresh_token, "refresh"),
        client_id=client_id,
        scope=family_scope if family_scope is not None else scope,
        sub=record.sub,
        iat=int(now),
        exp=now + ctx.settings.refresh_token_lifetime,
        username=record.username,
        resource=resource,
    )
    return Minted(family_id, access, record, refresh_token, family, lifetime)


async def issue(
    ctx: Context,
    client: Client,
    scope: str,
    user: User | None,
    *,
    refresh: bool,
    family_id: str | None = None,
    code_digest: str | None = None,
    resource: str | None = None,
    auth_time: int | None = None,
    extra: Mapping[str, Any] | None = None,
    expires: float | None = None,
) -> TokenResponse:
    """Mint and store an access token, plus a new refresh family when ``refresh``; nothing is returned unstored.

    With ``code_digest`` the code is spent in the same step, so only one exchange of a code ever succeeds.
    ``resource`` (RFC 8707) becomes the tokens' audience. ``extra`` and ``expires``: see :func:`prepare`.
    """
    minted = await prepare(
        ctx,
        client,
        scope,
        user,
        refresh=refresh,
        family_id=family_id,
        resource=resource,
        auth_time=auth_time,
        extra=extra,
        expires=expires,
    )
    access_digest = crypto.digest(minted.access, "access")
    if code_digest is not None:
        window = ctx.settings.access_token_lifetime
        outcome = await ctx.store.redeem_code(
            minted.family_id, code_digest, access_digest, minted.access_record, minted.family, replay_window=window
        )
        _refuse_unless_done(outcome, reused=CODE_REUSED, missing=CODE_MISSING)
    elif minted.family is None:
        await ctx.store.put_access(minted.family_id, access_digest, minted.access_record)
    else:
        await ctx.store.put_family(minted.family_id, minted.family, access_digest, minted.access_record)
    return minted.response(ctx)


async def prepare(
    ctx: Context,
    client: Client,
    scope: str,
    user: User | None,
    *,
    refresh: bool,
    family_id: str | None = None,
    resource: str | None = None,
    auth_time: int | None = None,
    extra: Mapping[str, Any] | None = None,
    expires: float | None = None,
) -> Minted:
    """New tokens and their records as the switched-on features want them (their data in the records' ``extra``,
    another form of the access token), not yet stored: :func:`issue` stores them, a grant with its own store
    step (the device flow's redemption) does it there. A grant may add its own ``extra`` (token exchange's
    ``act``) and cap the access token's expiry (``expires``: never past the token it was exchanged for)."""
    minted = mint(
        ctx, client.client_id, scope, user, refresh=refresh, family_id=family_id, resource=resource, expires=expires
    )
    if auth_time is not None and minted.family is not None:  # kept for the ID tokens of later refreshes
        minted = replace(minted, family=replace(minted.family, auth_time=auth_time))
    if ctx.features or extra:
        minted = await _with_extra(ctx, client, scope, user, minted, extra or {})
        minted = await _access_value(ctx, minted)
    return minted


async def _with_extra(
    ctx: Context, client: Client, scope: str, user: User | None, minted: Minted, granted: Mapping[str, Any]
) -> Minted:
    """The minted records with what the switched-on features keep with them (``extra``, by feature), and what
    the grant itself adds (``granted``)."""
    extra: dict[str, Any] = {}
    for feature in ctx.features:
        extra.update(await feature.token_extra(ctx, client, scope, user))
    extra.update(granted)
    extra = _bound_over(extra)
    return _carrying(minted, extra) if extra else minted


def _bound_over(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` with what the request was bound to over it; a feature that bound its key to ``None`` unbinds the
    records (a confidential client refreshing without a DPoP proof), so the key is not kept at all."""
    return {name: value for name, value in {**extra, **bound()}.items() if value is not None}


def _carrying(minted: Minted, extra: Mapping[str, Any]) -> Minted:
    """The minted records holding ``extra``: what the features keep with a grant, in its family and its tokens."""
    family = None if minted.family is None else replace(minted.family, extra=extra)
    return replace(minted, access_record=replace(minted.access_record, extra=extra), family=family)


async def _with_fields(ctx: Context, client: Client, response: TokenResponse) -> TokenResponse:
    """The response with the fields the switched-on features add to it."""
    fields: dict[str, Any] = {}
    for feature in ctx.features:
        fields.update(await feature.token_fields(ctx, client, response))
    return replace(response, fields={**response.fields, **fields}) if fields else response


async def _access_value(ctx: Context, minted: Minted) -> Minted:
    """The minted access token in the form a feature gives it (an RFC 9068 JWT), else as minted.

    Whatever the form, its digest is what the store keeps, so introspection, revocation and local validation
    treat every form alike.
    """
    for feature in ctx.features:
        value = await feature.access_token_value(ctx, minted.access_record, minted.family_id)
        if value is not None:
            return replace(minted, access=value)
    return minted


def _refuse_unless_done(outcome: Outcome, *, reused: str, missing: str) -> None:
    """``invalid_grant`` with the description of what the store found, unless it did the work."""
    if outcome is Outcome.REUSED:
        raise InvalidGrant(reused)
    if outcome is Outcome.MISSING:
        raise InvalidGrant(missing)


async def client_credentials(ctx: Context, client: Client, request: Incoming) -> TokenResponse:
    """RFC 6749 section 4.4: the client acts for itself, so there is no user and no refresh token."""
    params = request.params
    scope = narrow(params.get("scope"), client.scopes)
    resource = requested_resource(params, ctx.settings.resources)
    return await issue(ctx, client, scope, None, refresh=False, resource=resource)


async def password(ctx: Context, client: Client, request: Incoming) -> TokenResponse:
    """RFC 6749 section 4.3, kept for parity with older clients; off unless enabled in settings."""
    params = request.params
    username, secret = params.require("username"), params.require("password")
    if ctx.password_verifier is None:
        raise UnsupportedGrantType("the password grant has no user verifier configured")
    attempt = Attempt.user(username, request.peer)
    known = await ctx.limiter.check(attempt)
    user = await ctx.password_verifier(username, secret)
    if user is None:
        await ctx.limiter.failed(attempt)
        raise InvalidGrant("invalid resource owner credentials")
    await ctx.limiter.succeeded(attempt, known=known)
    scope = narrow(params.get("scope"), client.scopes)
    resource = requested_resource(params, ctx.settings.resources)
    return await issue(ctx, client, scope, user, refresh="refresh_token" in client.grant_types, resource=resource)


async def refresh_token(ctx: Context, client: Client, request: Incoming) -> TokenResponse:
    """RFC 6749 section 6 with rotation; a spent refresh token revokes its family (RFC 9700 section 4.14.2).

    With ``REFRESH_TOKEN_GRACE_PERIOD`` set, the token a rotation replaced is accepted again within that many
    seconds of the rotation: a client that never received the rotation's answer retries and gets tokens,
    the unseen refresh token is spent, and the grant survives. Outside the window reuse stays fatal.
    """
    params = request.params
    presented = params.require("refresh_token")
    family_id = crypto.family_of(presented)
    if family_id is None:
        raise InvalidGrant("invalid refresh token")
    presented_digest = crypto.digest(presented, "refresh")
    found = await ctx.store.lookup(family_id, refresh_digest=presented_digest)
    family = found.family
    now = ctx.clock()
    retry = family is not None and _within_grace(ctx, family, presented_digest, now)
    if found.refresh_spent and not retry:
        await ctx.store.revoke_family(family_id)
        user_sub = family.sub if family is not None else None
        ctx.events.emit(
            "refresh_reused", client_id=client.client_id, user=user_sub, family_id=family_id, address=request.peer
        )
        raise InvalidGrant(REFRESH_REUSED)
    if family is None:
        raise InvalidGrant(REFRESH_MISSING)
    if family.exp <= now:
        raise InvalidGrant("refresh token has expired")
    if not retry and not hmac.compare_digest(family.refresh_digest, presented_digest):
        raise InvalidGrant("invalid refresh token")
    if family.client_id != client.client_id:
        raise InvalidGrant("refresh token was issued to another client")
    for feature in ctx.features:
        await feature.check_grant(ctx, client, family)
    # RFC 6749 section 6: the new refresh token keeps the original scope; the access token may narrow it.
    # RFC 8707 likewise: a grant bound to a resource issues access tokens for that resource only.
    scope = narrow(params.get("scope"), scope_set(family.scope))
    resource = within(requested_resource(params, ctx.settings.resources), family.resource)
    user = User(family.sub, family.username) if family.sub is not None else None
    minted = mint(
        ctx,
        client.client_id,
        scope,
        user,
        refresh=True,
        family_id=family_id,
        family_scope=family.scope,
        resource=resource,
    )
    carried = _bound_over(family.extra)  # what the features kept with the grant, and bound the request to
    if carried:
        minted = _carrying(minted, carried)
    minted = await _access_value(ctx, minted)
    if minted.family is None:
        raise RuntimeError("a refresh mint always has a family")
    # The window starts at the first rotation away from the presented token, however often it is retried.
    rotated_at = family.rotated_at if retry and family.rotated_at is not None else now
    # The grant's resource is the family's for good; the access token may name one when the grant has none.
    new_family = replace(
        minted.family,
        previous_digest=presented_digest,
        rotated_at=rotated_at,
        resource=family.resource,
        auth_time=family.auth_time,
    )
    access_digest = crypto.digest(minted.access, "access")
    outcome = await ctx.store.rotate_refresh(
        family_id, family.refresh_digest, new_family, access_digest, minted.access_record
    )
    if outcome is Outcome.REUSED:  # a concurrent rotation won: this token was spent meanwhile
        ctx.events.emit(
            "refresh_reused", client_id=client.client_id, user=family.sub, family_id=family_id, address=request.peer
        )
    _refuse_unless_done(outcome, reused=REFRESH_REUSED, missing=REFRESH_MISSING)
    return replace(minted.response(ctx), issued=family)


def _within_grace(ctx: Context, family: TokenFamily, presented_digest: str, now: float) -> bool:
    """``presented_digest`` is the token the last rotation replaced, and that rotation is recent enough."""
    grace = ctx.settings.refresh_token_grace_period
    return (
        grace > 0
        and family.previous_digest is not None
        and family.rotated_at is not None
        and now - family.rotated_at <= grace
        and hmac.compare_digest(family.previous_digest, presented_digest)
    )


async def authorization_code(ctx: Context, client: Client, request: Incoming) -> TokenResponse:
    """RFC 6749 section 4.1.3 with PKCE (RFC 7636 section 4.6); a replayed code revokes what it issued.

    The code is read, checked, then spent together with storing the tokens: two round trips, and exactly
    one of any number of concurrent exchanges succeeds. A failed check spends it too (single use).
    """
    params = request.params
    code = params.require("code")
    family_id = crypto.family_of(code)
    if family_id is None:
        raise InvalidGrant("invalid authorization code")
    code_digest = crypto.digest(code, "code")
    window = ctx.settings.access_token_lifetime
    found = await ctx.store.get_code(family_id, code_digest)
    if found is None:
        # Unknown, expired or spent: taking it tells which, and a spent one revokes what it issued.
        if isinstance(await ctx.store.take_code(family_id, code_digest, replay_window=window), CodeReplayed):
            raise InvalidGrant(CODE_REUSED)
        raise InvalidGrant(CODE_MISSING)
    try:
        problem = _code_problem(found, client, params.get("redirect_uri"), params.get("code_verifier"), ctx.clock())
        if problem is not None:
            raise InvalidGrant(problem)
        for feature in ctx.features:
            await feature.check_grant(ctx, client, found)
        resource = within(requested_resource(params, ctx.settings.resources), found.resource)
    except OAuthError:
        await ctx.store.take_code(family_id, code_digest, replay_window=window)  # single use, failed or not
        raise
    user = User(found.sub, found.username)
    refresh = "refresh_token" in client.grant_types and all(
        feature.refreshable(ctx, client, found.scope) for feature in ctx.features
    )
    response = await issue(
        ctx,
        client,
        found.scope,
        user,
        refresh=refresh,
        family_id=family_id,
        code_digest=code_digest,
        resource=resource,
        auth_time=found.auth_time,
    )
    return replace(response, issued=found)


def _code_problem(
    code: AuthorizationCode, client: Client, redirect_uri: str | None, verifier: str | None, now: float
) -> str | None:
    """Why this exchange of ``code`` must fail, or ``None`` when it may go ahead."""
    if code.exp <= now:
        return "authorization code has expired"
    if code.client_id != client.client_id:
        return "authorization code was issued to another client"
    if (code.redirect_uri_sent or redirect_uri is not None) and redirect_uri != code.redirect_uri:
        return "redirect_uri does not match the authorization request"
    if code.code_challenge is None or code.code_challenge_method is None:
        if verifier is not None:
            return "code_verifier sent but the authorization request had no code_challenge"
    elif verifier is None:
        return "code_verifier is required"
    elif not PKCE_VALUE.fullmatch(verifier) or not crypto.pkce_matches(
        verifier, code.code_challenge, code.code_challenge_method
    ):
        return "code_verifier does not match the code_challenge"
    return None


#: JSON Schema patterns for the parameters' OpenAPI descriptions: RFC 6749 section 3.3 scope, RFC 7636 section 4.1.
SCOPE_PATTERN = r"^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$"
PKCE_PATTERN = r"^[A-Za-z0-9._~-]{43,128}$"
# RFC 6749 appendix A.10, loosely: printable ASCII without space, quote or backslash (names and URIs fit).
_GRANT_NAME = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def always(settings: OAuthSettings) -> bool:
    """On whatever the settings say."""
    return True


@dataclass(frozen=True, slots=True)
class GrantSpec:
    """One grant type of the token endpoint: its function, when it is on, and what OpenAPI says about it.

    The server's metadata (``grant_types_supported``), the token endpoint's dispatch and its OpenAPI
    ``grant_type`` enum and parameters all come from the enabled specs.
    """

    #: The ``grant_type`` value: a built-in name, or an absolute URI for an extension (RFC 6749 section 4.5).
    name: str
    handler: Grant
    #: Whether these settings switch the grant on.
    enabled: Callable[[OAuthSettings], bool] = always
    #: The grant's own token request parameters as JSON Schemas; each ``description`` is prefixed with the
    #: names of the grants that take the parameter, so several grants can share one (``scope``).
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Error codes the grant answers besides RFC 6749 section 5.2's (e.g. RFC 8628's ``authorization_pending``).
    errors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _GRANT_NAME.fullmatch(self.name):
            raise ValueError(f"grant type {self.name!r} must be a name or an absolute URI (RFC 6749 appendix A.10)")


def _password_enabled(settings: OAuthSettings) -> bool:
    return settings.enable_password_grant


def _param(description: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **schema}


_SCOPE_PARAM = {
    "scope": _param("a subset", pattern=SCOPE_PATTERN),
    "resource": _param("RFC 8707: the resource the token is for (absolute URI, no fragment)", format="uri"),
}


#: The grants built in, in the order metadata lists them; ``password`` follows ``enable_password_grant``.
#: Features add theirs after these (:meth:`asgi_oauth.features.Feature.grants`).
DEFAULT_GRANTS: tuple[GrantSpec, ...] = (
    GrantSpec(
        "authorization_code",
        authorization_code,
        params={
            "code": _param("single use"),
            "redirect_uri": _param("as sent to /authorize"),
            "code_verifier": _param("RFC 7636", pattern=PKCE_PATTERN),
            "resource": _SCOPE_PARAM["resource"],
        },
    ),
    GrantSpec("client_credentials", client_credentials, params=_SCOPE_PARAM),
    GrantSpec(
        "refresh_token",
        refresh_token,
        params={"refresh_token": _param("rotated on every use"), **_SCOPE_PARAM},
    ),
    GrantSpec(
        "password",
        password,
        enabled=_password_enabled,
        params={
            "username": _param("the resource owner's user name"),
            "password": _param("the resource owner's password", format="password"),
            **_SCOPE_PARAM,
        },
    ),
)


def enabled_grants(settings: OAuthSettings, specs: Iterable[GrantSpec] = DEFAULT_GRANTS) -> dict[str, GrantSpec]:
    """The grants these settings switch on, by name, in the order given; a name given twice is an error."""
    return switched_on(settings, specs, lambda spec: spec.name, "grant type")


async def token(ctx: Context, grants: Mapping[str, GrantSpec], request: Incoming) -> TokenResponse:
    """Authenticate the client, then run the grant it asked for."""
    grant_type = request.params.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("missing parameter grant_type")
    client = await authenticate(ctx, request)
    grant = grants.get(grant_type)
    if grant is None:
        raise UnsupportedGrantType("this grant type is not supported")
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")
    events = ctx.events
    reset = None
    if ctx.features:
        binding: dict[str, Any] = {}
        for feature in ctx.features:
            binding.update(await feature.token_request(ctx, client, request))
        reset = _BOUND.set(binding) if binding else None
    try:
        response = await grant.handler(ctx, client, request)
        if ctx.features:
            for feature in ctx.features:
                await feature.tokens_issued(ctx, client, response)
            response = await _with_fields(ctx, client, response)
    except InvalidGrant as error:
        if error.description == CODE_REUSED:  # found by either step of the exchange; the code's user is gone
            code = request.params.get("code")
            family_id = crypto.family_of(code) if code is not None else None
            events.emit("code_replayed", client_id=client.client_id, family_id=family_id, address=request.peer)
        raise
    finally:
        if reset is not None:
            _BOUND.reset(reset)
    if events.active:
        family_id = response.family_id or crypto.family_of(response.access_token)
        kind: EventKind = "refreshed" if grant_type == "refresh_token" else "issued"
        events.emit(
            kind,
            client_id=client.client_id,
            user=response.user,
            family_id=family_id,
            address=request.peer,
            what=grant_type,
        )
    return response
