"""The JWT bearer grant (RFC 7523 section 2.1) with the Identity Assertion JWT Authorization Grant profile (ID-JAG,
draft-ietf-oauth-identity-assertion-authz-grant; MCP's enterprise-managed authorization extension).

An enterprise identity provider this server trusts (:class:`TrustedIssuer`) signs, for a signed-in user, a JWT
that lets one client get an access token here for one resource; the client presents it as ``assertion`` at
``/token``. The server checks it as the draft asks and issues an access token for the user (``sub``) to that
client, bound to that resource, with no more scope than the assertion, the request and the client allow. No
refresh token: when the token expires the client gets a new ID-JAG, so the identity provider stays in charge of
the user's access. Refusals are ``invalid_grant`` (``invalid_target``, ``invalid_scope`` where those fit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...errors import InvalidGrant, InvalidTarget, UnauthorizedClient
from ...models import Client, User, scope_set
from ...protocol.scopes import narrow
from ...protocol.targets import requested_resource
from ...uris import canonical_resource
from .. import Context, Incoming, Params, TokenResponse, issue
from .issuers import TrustedIssuer
from .keys import KeySets
from .names import ID_JAG_TYPE
from .replay import first_use
from .settings import AssertionSettings
from .verify import AssertionRefused, Expected, peek


async def jwt_bearer(
    ctx: Context,
    client: Client,
    request: Incoming,
    *,
    trusted: Callable[[str], Awaitable[TrustedIssuer | None]],
    keys: KeySets,
    settings: AssertionSettings,
) -> TokenResponse:
    if client.public:
        raise UnauthorizedClient("an identity assertion grant is for confidential clients")
    params = request.params
    try:
        seen = peek(params.require("assertion"))
    except AssertionRefused as refused:
        raise InvalidGrant(str(refused)) from None
    issuer = await trusted(seen.issuer) if seen.issuer else None
    if issuer is None:
        raise InvalidGrant("the assertion's issuer is not one this server trusts")
    typ = seen.header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in (ID_JAG_TYPE, f"application/{ID_JAG_TYPE}"):
        raise InvalidGrant(f"an identity assertion grant's typ must be {ID_JAG_TYPE}")
    expected = Expected(
        issuer=issuer.issuer,
        audiences=frozenset({ctx.settings.issuer}),
        algorithms=frozenset(issuer.algorithms) & frozenset(settings.algorithms),
        leeway=settings.leeway,
        max_lifetime=settings.max_lifetime,
    )
    try:
        claims = await keys.verified(seen, issuer.keys, expected, whose=f"the issuer {issuer.issuer}")
    except AssertionRefused as refused:
        raise InvalidGrant(str(refused)) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidGrant("the assertion has no sub naming the user")
    if claims.get("client_id") != client.client_id:
        raise InvalidGrant("the assertion was issued to another client (its client_id claim)")
    resource = _resource(claims, params, ctx.settings.resources)
    granted = claims.get("scope")
    if granted is not None and not isinstance(granted, str):
        raise InvalidGrant("the assertion's scope must be a space-separated string")
    allowed = client.scopes if granted is None else client.scopes & scope_set(granted)
    scope = narrow(params.get("scope"), allowed)
    if not await first_use(ctx.store, "grant-assertion", claims, leeway=settings.leeway):
        raise InvalidGrant("this assertion was used before: ask the identity provider for a new one")
    return await issue(ctx, client, scope, User(sub), refresh=False, resource=resource)


def _resource(claims: Mapping[str, Any], params: Params, allowed: tuple[str, ...]) -> str | None:
    """The resource the token is for: the assertion's ``resource`` (which a ``resource`` parameter must repeat),
    else the parameter's; one this server issues tokens for."""
    asked = requested_resource(params, allowed)
    named = claims.get("resource")
    if named is None:
        return asked
    try:
        resource = canonical_resource(named) if isinstance(named, str) else None
    except ValueError:
        resource = None
    if resource is None:
        raise InvalidGrant("the assertion's resource must be one absolute URI")
    if allowed and resource not in allowed:
        raise InvalidTarget("this server issues no tokens for the assertion's resource")
    if asked is not None and asked != resource:
        raise InvalidTarget("the resource parameter is not the assertion's resource")
    return resource
