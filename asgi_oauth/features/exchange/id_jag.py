"""Issuing Identity Assertion JWT Authorization Grants (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant)
by token exchange: this server acting as the enterprise identity provider of MCP's enterprise-managed
authorization.

A client signed a user in here (it holds the user's ID token, or an access token of its own for the user) and
must call an MCP server whose authorization server trusts this one. It exchanges that token here
(``requested_token_type`` id-jag, ``audience`` that authorization server's issuer, optionally ``resource`` and
``scope``) for a short-lived JWT, signed with OpenID Connect's keys, that it presents there with the JWT bearer
grant. What is issued is the operator's choice (:class:`~.settings.IdJagTarget`): only for configured
authorization servers, only to clients named for them (the ID-JAG's ``client_id`` is the name there), only with
scopes configured for them; never a token of this server, so nothing is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import crypto
from ...errors import InvalidRequest, InvalidTarget, UnauthorizedClient, describable
from ...models import Client, scope_set
from ...protocol.introspect import find_access_token
from ...protocol.scopes import narrow
from ...uris import canonical_resource
from ...validation_cache import cache_of
from .. import Context, Params, TokenResponse
from .names import ACCESS_TOKEN_TYPE, ID_JAG_TOKEN_TYPE, ID_JAG_TYP, ID_TOKEN_TYPE
from .settings import ExchangeSettings, IdJagTarget

if TYPE_CHECKING:  # OpenID Connect's keys, with PyJWT: needed only where ID-JAGs are issued
    from ..oidc.keys import KeyRing


async def issue_id_jag(
    ctx: Context, client: Client, params: Params, *, settings: ExchangeSettings, keys: KeyRing | None
) -> TokenResponse:
    if keys is None:
        raise InvalidRequest("this server issues no ID-JAGs: it needs OpenID Connect switched on to sign them")
    audience = params.get("audience")
    if audience is None:
        raise InvalidRequest("audience is missing: name the authorization server the ID-JAG is for")
    target = _target(settings, audience)
    named = target.clients.get(client.client_id)
    if named is None:
        raise UnauthorizedClient("this client may not get ID-JAGs for that authorization server")
    sub, expires = await _subject(ctx, client, params, keys)
    scope = narrow(params.get("scope"), scope_set(target.scope))
    now = int(ctx.clock())
    exp = min(now + settings.id_jag_lifetime, int(expires))
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer,
        "sub": sub,
        "aud": target.audience,
        "client_id": named,
        "jti": crypto.new_jti(),
        "iat": now,
        "exp": exp,
        "scope": scope,
    }
    resource = _resource(target, params.get("resource"))
    if resource is not None:
        claims["resource"] = resource
    assertion = await keys.sign(claims, typ=ID_JAG_TYP)
    fields = {"issued_token_type": ID_JAG_TOKEN_TYPE, "token_type": "N_A"}  # RFC 8693 2.2.1: not an access token
    return TokenResponse(assertion, exp - now, scope, user=sub, fields=fields)


def _target(settings: ExchangeSettings, audience: str) -> IdJagTarget:
    try:
        canonical = canonical_resource(audience)
    except ValueError:
        raise InvalidTarget(
            "audience must be the issuer identifier (an absolute URI) of an authorization server"
        ) from None
    target = settings.target(canonical)
    if target is None:
        raise InvalidTarget("this server issues no ID-JAGs for that audience")
    return target


async def _subject(ctx: Context, client: Client, params: Params, keys: KeyRing) -> tuple[str, float]:
    """Who the ID-JAG is for, and the latest it may expire: from an ID token this server issued to the client, or
    an access token of the client's for a user."""
    token = params.require("subject_token")
    kind = params.require("subject_token_type")
    if kind == ID_TOKEN_TYPE:
        import jwt

        try:
            claims = await keys.verified(token, typ="JWT", issuer=ctx.settings.issuer, audience=client.client_id)
        except jwt.InvalidTokenError as error:
            why = f"the subject_token is not an ID token this server issued to this client: {describable(str(error))}"
            raise InvalidRequest(why[:300]) from None
        return str(claims["sub"]), float(claims["exp"])
    if kind == ACCESS_TOKEN_TYPE:
        found = await find_access_token(ctx.store, token, ctx.clock(), cache_of(ctx.store))
        if found is None or found.client_id != client.client_id or found.sub is None:
            raise InvalidRequest("the subject_token is not an active access token of this client for a user")
        return found.sub, found.exp
    raise InvalidRequest(f"an ID-JAG is issued for a subject_token of type {ID_TOKEN_TYPE} or {ACCESS_TOKEN_TYPE}")


def _resource(target: IdJagTarget, asked: str | None) -> str | None:
    if asked is None:
        return None
    try:
        resource = canonical_resource(asked)
    except ValueError as error:
        raise InvalidTarget(str(error)) from None
    if target.resources and resource not in target.resources:
        raise InvalidTarget("that authorization server's ID-JAGs may not name this resource")
    return resource
