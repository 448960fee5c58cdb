"""Token exchange (RFC 8693) without HTTP: a client holding a user's access token gets another one, for another
resource, acting for that user.

The case it is built for: an MCP server receives a user's token (issued for the MCP server's resource) and must
call a downstream API for that user. It may not pass the token through; it exchanges it here for one issued to
itself, for the downstream resource, that says who acts (``act``, RFC 8693 section 4.1), carries no more scope
than the user's token and expires no later. What this server decides where the RFC leaves it to policy:

- **Subject tokens** are this server's own access tokens (opaque or JWT), active, or (``subject_token_type`` jwt)
  JWTs of issuers the ``jwt_bearer`` feature trusts, taken as that grant takes them; anything else is
  ``invalid_request``, as section 2.2.2 asks for a subject token that is invalid or unacceptable.
- **Who may exchange one**: the client it was issued to, or a confidential client registered with the token's
  resource among the audiences it serves (:func:`may_exchange`): the MCP server, for tokens issued for it.
- **What comes out**: an access token (``issued_token_type`` access_token), for the ``resource`` (or an absolute
  URI ``audience``) asked, with the scope asked within the subject token's and the client's, never a refresh
  token, expiring no later than the subject token; ``act`` names the client (and, given an ``actor_token`` of
  this client, its subject), nesting any ``act`` the subject token carried.
- **Revocation**: the new token joins the subject token's family (the same store slot), stored only while the
  subject token lives (``Store.put_exchanged``); revoking the subject token, its refresh token's grant, its
  user or its client ends what was exchanged for it, in the same step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ... import crypto
from ...errors import InvalidGrant, InvalidRequest, InvalidTarget, UnauthorizedClient
from ...models import AccessToken, Client, User, scope_set
from ...protocol.introspect import find_access_token
from ...protocol.scopes import narrow
from ...protocol.targets import requested_resource
from ...uris import canonical_resource
from ...validation_cache import cache_of
from .. import Context, Incoming, Params, TokenResponse, prepare
from .id_jag import issue_id_jag
from .names import ACCESS_TOKEN_TYPE, EXTRA_KEY, ID_JAG_TOKEN_TYPE, JWT_TOKEN_TYPE
from .settings import ExchangeSettings

if TYPE_CHECKING:
    from ..assertions.bearer import Admitted
    from ..oidc.keys import KeyRing


def may_exchange(audiences: Iterable[str]) -> dict[str, Any]:
    """The ``extra`` of a client that may exchange tokens issued for ``audiences`` (resources it serves);
    :class:`ValueError` for one that is not an absolute URI."""
    canonical = sorted({canonical_resource(audience) for audience in audiences})
    if not canonical:
        raise ValueError("name at least one audience (a resource URI) whose tokens the client may exchange")
    return {EXTRA_KEY: {"audiences": canonical}}


def act_of(record: AccessToken) -> Mapping[str, Any] | None:
    """The ``act`` claim of a token issued by an exchange, else ``None``."""
    kept = record.extra.get(EXTRA_KEY)
    act = kept.get("act") if isinstance(kept, Mapping) else None
    return act if isinstance(act, Mapping) else None


#: The ``jwt_bearer`` feature's check of an assertion (its ``JWTBearerGrant.admit``), when it is on.
Bearer = Callable[[Context, Client, Params], Awaitable["Admitted"]]


async def exchange(
    ctx: Context,
    client: Client,
    request: Incoming,
    *,
    settings: ExchangeSettings,
    keys: KeyRing | None,
    bearer: Bearer | None,
) -> TokenResponse:
    """``keys`` (OpenID Connect's, when it is on) sign the ID-JAGs asked for (:mod:`.id_jag`); ``bearer`` takes
    JWTs of trusted issuers."""
    params = request.params
    if params.get("subject_token_type") == JWT_TOKEN_TYPE:
        return await _of_trusted_issuer(ctx, client, params, bearer)
    if client.public:
        raise UnauthorizedClient("token exchange is for confidential clients")
    if params.get("requested_token_type") == ID_JAG_TOKEN_TYPE:
        return await issue_id_jag(ctx, client, params, settings=settings, keys=keys)
    subject_token = params.require("subject_token")
    if params.require("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(
            f"subject_token_type must be {ACCESS_TOKEN_TYPE} (a token of this server) or {JWT_TOKEN_TYPE} (of a "
            "trusted issuer)"
        )
    if params.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type: {ACCESS_TOKEN_TYPE} or {ID_JAG_TOKEN_TYPE}")
    target = _target(params, ctx.settings.resources)
    subject = await find_access_token(ctx.store, subject_token, ctx.clock(), cache_of(ctx.store))
    if subject is None:
        raise InvalidRequest("the subject_token is not an active access token of this server")
    if not _may_exchange(client, subject):
        raise InvalidRequest("this client may not exchange that token: it was issued to another client and audience")
    act: dict[str, Any] = {"sub": client.client_id, "client_id": client.client_id}
    actor_token = params.get("actor_token")
    if actor_token is not None or params.get("actor_token_type") is not None:
        act = await _actor(ctx, client, actor_token, params.get("actor_token_type"), bearer)
    previous = act_of(subject)
    if previous is not None:
        act["act"] = dict(previous)
    scope = narrow(params.get("scope"), scope_set(subject.scope) & client.scopes)
    user = User(subject.sub, subject.username) if subject.sub is not None else None
    family_id = crypto.family_of(subject_token)
    if family_id is None:  # found above, so well formed; the check keeps the types honest
        raise InvalidRequest("the subject_token is not an active access token of this server")
    minted = await prepare(
        ctx,
        client,
        scope,
        user,
        refresh=False,
        family_id=family_id,
        resource=target,
        extra={EXTRA_KEY: {"act": act}},
        expires=subject.exp,
    )
    subject_digest = crypto.digest(subject_token, "access")
    access_digest = crypto.digest(minted.access, "access")
    if not await ctx.store.put_exchanged(family_id, access_digest, minted.access_record, subject_digest=subject_digest):
        raise InvalidRequest("the subject_token was revoked or expired meanwhile")
    response = minted.response(ctx)
    return replace(response, fields={**response.fields, "issued_token_type": ACCESS_TOKEN_TYPE})


async def _of_trusted_issuer(ctx: Context, client: Client, params: Params, bearer: Bearer | None) -> TokenResponse:
    """A JWT of an issuer the ``jwt_bearer`` feature trusts, exchanged exactly as that grant takes it as its
    assertion: an ID-JAG issued to this client, or a platform's token for a workload that a trust rule admits as
    this client (a public client too: the token is its credential). One way to check such a JWT, whichever grant
    carries it; no ``act``, since nobody acts for another here."""
    if params.get("actor_token") is not None or params.get("actor_token_type") is not None:
        raise InvalidRequest("an actor_token goes with a subject_token of this server")
    if params.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type: {ACCESS_TOKEN_TYPE} for a subject_token of another issuer")
    target = _target(params, ctx.settings.resources)
    admitted = await _admitted(ctx, client, bearer, params.require("subject_token"), target, params.get("scope"))
    response = await admitted.issue(ctx, client)
    return replace(response, fields={**response.fields, "issued_token_type": ACCESS_TOKEN_TYPE})


async def _admitted(
    ctx: Context, client: Client, bearer: Bearer | None, token: str, resource: str | None, scope: str | None
) -> Admitted:
    """What a trusted issuer's JWT admits this client to; a JWT refused is ``invalid_request`` (RFC 8693 section
    2.2.2: an invalid or unacceptable subject or actor token), said as the grant says it."""
    if bearer is None:
        raise InvalidRequest(f"token type {JWT_TOKEN_TYPE} needs the jwt_bearer feature (trusted issuers)")
    asked = {"assertion": token, "resource": resource, "scope": scope}
    try:
        return await bearer(ctx, client, Params({name: value for name, value in asked.items() if value}))
    except InvalidGrant as refused:
        raise InvalidRequest(refused.description) from None


def _may_exchange(client: Client, subject: AccessToken) -> bool:
    if subject.client_id == client.client_id:
        return True
    allowed = client.extra.get(EXTRA_KEY)
    audiences = allowed.get("audiences") if isinstance(allowed, Mapping) else None
    return subject.resource is not None and isinstance(audiences, list) and subject.resource in audiences


async def _actor(
    ctx: Context, client: Client, token: str | None, kind: str | None, bearer: Bearer | None
) -> dict[str, Any]:
    """RFC 8693 section 2.1: an ``actor_token`` (with its type) names who acts, as the ``act`` claim says it: an
    access token of the exchanging client itself (its subject), or a JWT of a trusted issuer that admits this
    client (the workload the exchanging client runs as, with its platform's token), whose issuer ``act`` names."""
    if token is None or kind is None:
        raise InvalidRequest("actor_token and actor_token_type go together")
    if kind == JWT_TOKEN_TYPE:
        admitted = await _admitted(ctx, client, bearer, token, None, None)
        return {"sub": admitted.sub, "iss": admitted.issuer, "client_id": client.client_id}
    if kind != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"actor_token_type must be {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}")
    actor = await find_access_token(ctx.store, token, ctx.clock(), cache_of(ctx.store))
    if actor is None or actor.client_id != client.client_id:
        raise InvalidRequest("the actor_token is not an active access token of this client")
    return {"sub": actor.sub or client.client_id, "client_id": client.client_id}


def _target(params: Params, allowed: tuple[str, ...]) -> str | None:
    """The resource the new token is for: ``resource`` (RFC 8707) or ``audience`` given as an absolute URI (the
    logical names section 2.1 also allows mean nothing here); both must then agree."""
    resource = requested_resource(params, allowed)
    audience = requested_resource(params, allowed, "audience")
    if resource is not None and audience is not None and resource != audience:
        raise InvalidTarget("name one target: resource and audience differ")
    return resource if resource is not None else audience
