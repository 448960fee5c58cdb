"""Token revocation (RFC 7009)."""

from __future__ import annotations

from .. import crypto
from .client_auth import authenticate
from .context import Context
from .introspect import find_token
from .params import Incoming


async def revoke(ctx: Context, request: Incoming) -> None:
    """Revoke ``token`` if the caller owns it; unknown tokens succeed silently (RFC 7009 section 2.2).

    ``token_type_hint`` only picks which record is read first; either kind is found whatever the hint.
    A refresh token takes its whole family, so every access token issued under that grant stops
    validating at once.
    """
    client = await authenticate(ctx, request)
    token = request.params.require("token")
    found = await find_token(ctx.store, token, ctx.clock(), request.params.get("token_type_hint"))
    if found is None:
        await _revoke_rotated_grant(ctx, client.client_id, token)
        return
    if found.client_id != client.client_id:
        return
    family_id = crypto.family_of(token)
    if family_id is None:  # find_token found it, so it is well formed; the check keeps the types honest
        return
    if found.refresh is not None:
        done = await ctx.store.revoke_family(family_id, client_id=client.client_id)
    else:
        done = await ctx.store.revoke_access(family_id, crypto.digest(token, "access"), client_id=client.client_id)
    if done:
        what = "grant" if found.refresh is not None else "token"
        user = found.record.sub
        ctx.events.emit(
            "revoked", client_id=client.client_id, user=user, family_id=family_id, address=request.peer, what=what
        )


async def _revoke_rotated_grant(ctx: Context, client_id: str, token: str) -> None:
    """A refresh token that was already rotated away still names its grant: revoke the grant if it lives.

    Otherwise a refresh completing just before the revocation (the two racing, or a client revoking the
    refresh token it last saw) would leave the grant alive after the client asked to end it; presented
    at the token endpoint, the same spent token revokes the family too (RFC 9700 section 4.14.2).
    """
    family_id = crypto.family_of(token)
    if family_id is None:
        return
    seen = await ctx.store.lookup(family_id, refresh_digest=crypto.digest(token, "refresh"))
    family = seen.family
    if not (seen.refresh_spent and family is not None and family.client_id == client_id):
        return
    if await ctx.store.revoke_family(family_id, client_id=client_id):
        ctx.events.emit("revoked", client_id=client_id, user=family.sub, family_id=family_id, what="grant")
