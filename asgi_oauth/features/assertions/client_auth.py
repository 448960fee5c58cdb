"""``private_key_jwt`` and ``client_secret_jwt`` (RFC 7523 section 2.2, OpenID Connect Core section 9): a client
proves itself with a JWT it signed, at every endpoint where clients authenticate (token, introspection,
revocation, PAR, device). Both send the same parameters; the method the client registered says what verifies it:
its public keys (asymmetric algorithms only), or its secret derived from the server's ``secret_key`` (HMAC only).

The assertion's ``iss`` and ``sub`` name the client; ``aud`` names this server (its issuer identifier, as
RFC 7523bis asks, or one of its endpoint URLs, as clients written to RFC 7523 send); ``exp`` bounds it and its
``jti`` is accepted once, remembered in the store until ``exp`` so that every worker refuses a replay. Every
refusal is ``invalid_client`` (401), said in words that tell the client's developer what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from ...cimd.documents import DocumentError
from ...errors import InvalidClient, InvalidRequest
from ...models import Client
from .. import Context, Incoming
from .keys import KeySets
from .names import ASSERTION_TYPE, EXTRA_KEY, HMAC_METHOD, derived_secret
from .replay import first_use
from .settings import AssertionSettings
from .verify import AssertionRefused, Expected, Unverified, derived_keys, peek, verify


def applies(request: Incoming) -> bool:
    params = request.params
    return params.get("client_assertion") is not None or params.get("client_assertion_type") is not None


async def authenticate(
    ctx: Context,
    request: Incoming,
    *,
    keys: KeySets,
    settings: AssertionSettings,
    audiences: Callable[[], frozenset[str]],
    methods: frozenset[str],
) -> Client:
    """The client whose assertion this is, when it registered one of ``methods`` (those switched on)."""
    realm = ctx.settings.realm
    params = request.params
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}", realm=realm)
    assertion = params.get("client_assertion")
    if assertion is None:
        raise InvalidRequest("client_assertion is missing")
    if params.get("client_secret") is not None or (request.authorization or "")[:6].lower() == "basic ":
        raise InvalidRequest("use one client authentication method: a client_assertion, or a secret, not both")
    try:
        seen = peek(assertion)
    except AssertionRefused as refused:
        raise InvalidClient(str(refused), realm=realm) from None
    client_id = seen.issuer
    if client_id is None:
        raise InvalidClient("the assertion has no iss claim naming the client", realm=realm)
    named = params.get("client_id")
    if named is not None and named != client_id:
        raise InvalidClient("client_id does not match the assertion's iss", realm=realm)
    try:
        client = await ctx.clients.get(client_id)
    except DocumentError as error:
        raise InvalidClient(str(error), realm=realm) from None
    method = client.token_endpoint_auth_method if client is not None else EXTRA_KEY
    if client is None or method not in methods:
        ctx.events.emit("client_auth_failed", client_id=client_id, address=request.peer, what=method)
        if client is None:
            raise InvalidClient("client authentication failed", realm=realm)
        if method in (EXTRA_KEY, HMAC_METHOD):  # this feature's method, switched off
            raise InvalidClient(f"{method} is not accepted by this server", realm=realm)
        raise InvalidClient(f"this client is registered to authenticate with {method}; use that method", realm=realm)
    expected = Expected(
        issuer=client_id,
        subject=client_id,
        audiences=audiences(),
        algorithms=frozenset(settings.secret_algorithms if method == HMAC_METHOD else settings.algorithms),
        leeway=settings.leeway,
        max_lifetime=settings.max_lifetime,
    )
    try:
        claims = await _verified(ctx, seen, client, expected, keys)
    except AssertionRefused as refused:
        ctx.events.emit("client_auth_failed", client_id=client_id, address=request.peer, what=method)
        raise InvalidClient(str(refused), realm=realm) from None
    if not await first_use(ctx.store, "assertion", claims, leeway=settings.leeway):
        ctx.events.emit("client_auth_failed", client_id=client_id, address=request.peer, what=method)
        raise InvalidClient("this assertion was used before: sign a new one, with a new jti, per request", realm=realm)
    return client


async def _verified(
    ctx: Context, seen: Unverified, client: Client, expected: Expected, keys: KeySets
) -> Mapping[str, Any]:
    """The claims once what the client registered verifies them: its derived secret, or its keys."""
    if client.token_endpoint_auth_method == HMAC_METHOD:
        return verify(seen, derived_keys(_secrets(client, ctx.settings.secret_key)), expected, ctx.clock())
    return await keys.verified(seen, client.extra.get(EXTRA_KEY), expected, whose="the client")


def _secrets(client: Client, secret_key: Sequence[SecretStr]) -> list[str]:
    """The secret of a ``client_secret_jwt`` client under each ``secret_key`` still configured: the newest, then
    older ones kept through a rotation. :class:`AssertionRefused` when it has no salt or the server no key."""
    kept: Any = client.extra.get(HMAC_METHOD)
    salt = kept.get("salt") if isinstance(kept, Mapping) else None
    if not isinstance(salt, str) or not salt:
        raise AssertionRefused("the client has no client_secret_jwt secret registered")
    if not secret_key:
        raise AssertionRefused("this server has no secret key to derive client secrets from")
    return [derived_secret(key.get_secret_value(), client.client_id, salt) for key in secret_key]
