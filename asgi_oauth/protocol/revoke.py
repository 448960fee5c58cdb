"""Token revocation (RFC 7009)."""

from __future__ import annotations

from .. import crypto
from .client_auth import authenticate
from .context import Context
from .introspect import find_token
from .params import Incoming


async def revoke(ctx: Context, request: Incoming) -> None:
    """Revoke ``token`` if the caller owns it; unknown tokens succeed silently (RFC 7009 section 2.2).

    ``token_type_hint`` needs no handling: one lookup answers for both kinds. A refresh token takes its
    whole family, so every access token issued under that grant stops validating at once.
    """
    client = await authenticate(ctx, request)
    token = request.params.require("token")
    found = await find_token(ctx.store, token, ctx.clock())
    if found is None or found.client_id != client.client_id:
        return
    family_id = crypto.family_of(token)
    assert family_id is not None
    if found.refresh is not None:
        await ctx.store.revoke_family(family_id, client_id=client.client_id)
    else:
        await ctx.store.revoke_access(family_id, crypto.digest(token, "access"), client_id=client.client_id)
