"""The README's example extension grant (RFC 6749 section 4.5): one module, registered with one line.

A client trades its credentials and a ``reason`` for a short read-only token of its own. Registered with
``OAuthServer(..., grants=[*DEFAULT_GRANTS, READ_ONLY])``.
"""

from __future__ import annotations

from asgi_oauth.errors import InvalidScope
from asgi_oauth.models import Client
from asgi_oauth.protocol.context import Context
from asgi_oauth.protocol.grants import GrantSpec, TokenResponse, issue
from asgi_oauth.protocol.params import Incoming


async def read_only(ctx: Context, client: Client, request: Incoming) -> TokenResponse:
    request.params.require("reason")  # a real grant would log it
    if "read" not in client.scopes:
        raise InvalidScope("this client may not read")
    return await issue(ctx, client, "read", None, refresh=False)


READ_ONLY = GrantSpec(
    "urn:example:grant-type:read-only",
    read_only,
    params={"reason": {"type": "string", "description": "why the token is needed"}},
)
