"""Token introspection (RFC 7662) and the lookup the bearer middleware shares with it."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from .. import crypto
from ..errors import InvalidClient
from ..models import AccessToken, Client, TokenFamily, scope_set
from ..store.base import Store
from ..validation_cache import ValidationCache
from .client_auth import authenticate
from .context import Context
from .params import Incoming


@dataclass(frozen=True, slots=True)
class Found:
    """A live token: an access token's record, or the family of a refresh token."""

    record: AccessToken | TokenFamily

    @property
    def access(self) -> AccessToken | None:
        return self.record if isinstance(self.record, AccessToken) else None

    @property
    def refresh(self) -> TokenFamily | None:
        return self.record if isinstance(self.record, TokenFamily) else None

    @property
    def client_id(self) -> str:
        return self.record.client_id


async def find_access_token(
    store: Store, token: str, now: float, cache: ValidationCache | None = None
) -> AccessToken | None:
    """The live access token for ``token``: from ``cache`` while it is trusted, else one store round trip
    (kept in ``cache`` unless a revocation was announced meanwhile); none for malformed input."""
    key = b""
    epoch = 0
    if cache is not None:
        key = crypto.memory_key(token)
        kept = cache.access(key, now)
        if kept is not None:
            return kept
        epoch = cache.epoch
    family_id = crypto.family_of(token)
    if family_id is None:
        return None
    digest = crypto.digest(token, "access")
    access = await store.get_access(family_id, digest)
    if access is None or access.exp <= now:
        return None
    if cache is not None:
        cache.keep_access(family_id, key, digest, access, epoch)
    return access


async def find_token(
    store: Store, token: str, now: float, hint: str | None = None, cache: ValidationCache | None = None
) -> Found | None:
    """Access or refresh token, whichever ``token`` is, in one round trip.

    ``hint="access_token"`` (RFC 7009/7662 ``token_type_hint``) reads only the access token first, which
    is what resource servers send (from ``cache`` while it is trusted); any other hint, or a wrong one, reads
    both in one ``MGET``.
    """
    key = b""
    epoch = 0
    if cache is not None:
        key = crypto.memory_key(token)
        kept = cache.access(key, now)
        if kept is not None:
            return Found(kept)
        epoch = cache.epoch
    family_id = crypto.family_of(token)
    if family_id is None:
        return None
    access_digest = crypto.digest(token, "access")
    if hint == "access_token":
        access = await store.get_access(family_id, access_digest)
        family = None
        if access is None or access.exp <= now:
            access = None
            family = (await store.lookup(family_id)).family  # the access token was just read: only the family left
    else:
        found = await store.lookup(family_id, access_digest=access_digest)
        access = found.access if found.access is not None and found.access.exp > now else None
        family = found.family
    if access is not None:
        if cache is not None:
            cache.keep_access(family_id, key, access_digest, access, epoch)
        return Found(access)
    refresh_digest = crypto.digest(token, "refresh")
    if family is not None and family.exp > now and hmac.compare_digest(family.refresh_digest, refresh_digest):
        return Found(family)
    return None


def may_see(client: Client, found: Found) -> bool:
    """A client sees its own tokens; resource servers flagged ``introspect_any`` see every client's."""
    return client.introspect_any or found.client_id == client.client_id


def describe(found: Found, issuer: str) -> dict[str, Any]:
    """The RFC 7662 section 2.2 body for an active token."""
    record = found.record
    body: dict[str, Any] = {
        "active": True,
        "scope": record.scope,
        "client_id": record.client_id,
        "token_type": "Bearer" if found.access is not None else "refresh_token",
        "exp": int(record.exp),
        "iat": record.iat,
        "iss": issuer,
    }
    if record.resource is not None:
        body["aud"] = record.resource  # RFC 7662 section 2.2, the RFC 8707 resource the token is for
    if record.sub is not None:
        body["sub"] = record.sub
        if found.access is not None:
            body["username"] = record.username or record.sub
    return body


async def introspect(ctx: Context, request: Incoming) -> dict[str, Any]:
    client = await authenticate(ctx, request)
    params = request.params
    if client.public:
        raise InvalidClient("public clients may not introspect tokens", realm=ctx.settings.realm)
    token = params.require("token")
    found = await find_token(ctx.store, token, ctx.clock(), params.get("token_type_hint"), ctx.clients.cache)
    if found is None or not may_see(client, found):
        return {"active": False}
    body = describe(found, ctx.settings.issuer)
    for feature in ctx.features:
        body.update(feature.introspection_fields(found.record))
    required = params.get("scope")
    if required is not None and not scope_set(required) <= scope_set(body["scope"]):
        return {"active": False}
    return body
