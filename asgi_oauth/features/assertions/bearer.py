"""The JWT bearer grant (RFC 7523 section 2.1) in two profiles, chosen by the trusted issuer that signed the JWT.

ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant; MCP's enterprise-managed authorization extension): an
enterprise identity provider signs, for a signed-in user, a JWT that lets one confidential client get an access
token here for one resource. The server checks it as the draft asks and issues an access token for the user
(``sub``) to that client, bound to that resource, with no more scope than the assertion, the request and the
client allow; each assertion is accepted once.

Workload identity: a platform (a Kubernetes cluster, SPIRE, a CI system) signs a token naming a workload; a
:class:`~.issuers.TrustRule` of that issuer admits it as one client (a public one registered for this grant
only, the token being its credential, RFC 7523 section 3.1) with at most the rule's scope. Platform tokens are
reused until rotated, so they are not single use: the rule, the audience and the short lifetime bound them.

Neither gets a refresh token: when the access token expires the client gets a new JWT, so whoever signs them
stays in charge. Refusals are ``invalid_grant`` (``invalid_target``, ``invalid_scope`` where those fit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidGrant, InvalidTarget, UnauthorizedClient
from ...models import Client, User, scope_set
from ...protocol.scopes import narrow
from ...protocol.targets import requested_resource
from ...uris import canonical_resource
from .. import Context, Params, TokenResponse, issue
from .issuers import TrustedIssuer
from .keys import KeySets
from .names import ID_JAG_TYPE
from .replay import first_use
from .settings import AssertionSettings
from .verify import AssertionRefused, Expected, Unverified, peek


@dataclass(frozen=True, slots=True)
class Admitted:
    """What a verified assertion grants: who the token is for, with what scope, for which resource, until when."""

    sub: str
    scope: str
    resource: str | None
    #: The assertion's own expiry where the token may not outlive it (a workload's token), else ``None``.
    expires: float | None
    #: The trusted issuer that signed it.
    issuer: str

    async def issue(self, ctx: Context, client: Client) -> TokenResponse:
        """The access token it grants ``client``, stored: no refresh token, so whoever signed it stays in charge."""
        user = User(self.sub)
        return await issue(ctx, client, self.scope, user, refresh=False, resource=self.resource, expires=self.expires)


async def jwt_bearer(
    ctx: Context,
    client: Client,
    params: Params,
    *,
    trusted: Callable[[str], Awaitable[TrustedIssuer | None]],
    keys: KeySets,
    settings: AssertionSettings,
) -> TokenResponse:
    admitted = await admit(ctx, client, params, trusted=trusted, keys=keys, settings=settings)
    return await admitted.issue(ctx, client)


async def admit(
    ctx: Context,
    client: Client,
    params: Params,
    *,
    trusted: Callable[[str], Awaitable[TrustedIssuer | None]],
    keys: KeySets,
    settings: AssertionSettings,
) -> Admitted:
    """Whether ``params``' ``assertion`` (with its ``resource`` and ``scope``) admits ``client``, and to what: the
    grant's check, and token exchange's for a subject or actor token of a trusted issuer."""
    try:
        seen = peek(params.require("assertion"))
    except AssertionRefused as refused:
        raise InvalidGrant(str(refused)) from None
    issuer = await trusted(seen.issuer) if seen.issuer else None
    if issuer is None:
        raise InvalidGrant("the assertion's issuer is not one this server trusts")
    profile = _workload if issuer.profile == "workload" else _id_jag
    return await profile(ctx, client, params, seen, issuer, keys, settings)


async def _id_jag(
    ctx: Context,
    client: Client,
    params: Params,
    seen: Unverified,
    issuer: TrustedIssuer,
    keys: KeySets,
    settings: AssertionSettings,
) -> Admitted:
    if client.public:
        raise UnauthorizedClient("an identity assertion grant is for confidential clients")
    if not _is_id_jag(seen):
        raise InvalidGrant(f"an identity assertion grant's typ must be {ID_JAG_TYPE}")
    expected = _expected(issuer, ctx.settings.issuer, settings, single_use=True)
    claims = await _verified(keys, seen, issuer, expected)
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
    return Admitted(sub, scope, resource, None, issuer.issuer)


async def _workload(
    ctx: Context,
    client: Client,
    params: Params,
    seen: Unverified,
    issuer: TrustedIssuer,
    keys: KeySets,
    settings: AssertionSettings,
) -> Admitted:
    """A platform's token for a workload, admitted by a rule naming this client; public clients included, since
    the rule binds the token to this client_id and the signed token is the credential."""
    if _is_id_jag(seen):
        raise InvalidGrant("an ID-JAG is not a workload identity token; this issuer is trusted for workloads")
    audience = issuer.audience or ctx.settings.issuer
    expected = _expected(issuer, audience, settings, single_use=False)
    claims = await _verified(keys, seen, issuer, expected)
    # Checked only once the signature holds, so the rules cannot be probed with forged claims.
    rule = issuer.rule_for(claims, client.client_id)
    if rule is None:
        raise InvalidGrant(f"no trust rule of this issuer admits the assertion as client {client.client_id}")
    exp = float(claims["exp"])
    if exp <= ctx.clock():  # within the leeway, but a token capped at it would be dead on arrival
        raise InvalidGrant("the assertion has expired")
    resource = requested_resource(params, ctx.settings.resources)
    scope = narrow(params.get("scope"), client.scopes & scope_set(rule.scope))
    return Admitted(str(claims["sub"]), scope, resource, exp, issuer.issuer)  # the rule pinned sub


def _is_id_jag(seen: Unverified) -> bool:
    typ = seen.header.get("typ")
    return isinstance(typ, str) and typ.lower() in (ID_JAG_TYPE, f"application/{ID_JAG_TYPE}")


def _expected(issuer: TrustedIssuer, audience: str, settings: AssertionSettings, *, single_use: bool) -> Expected:
    return Expected(
        issuer=issuer.issuer,
        audiences=frozenset({audience}),
        algorithms=frozenset(issuer.algorithms) & frozenset(settings.algorithms),
        leeway=settings.leeway,
        max_lifetime=settings.max_lifetime,
        single_use=single_use,
    )


async def _verified(keys: KeySets, seen: Unverified, issuer: TrustedIssuer, expected: Expected) -> Mapping[str, Any]:
    try:
        return await keys.verified(seen, issuer.keys, expected, whose=f"the issuer {issuer.issuer}")
    except AssertionRefused as refused:
        raise InvalidGrant(str(refused)) from None


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
