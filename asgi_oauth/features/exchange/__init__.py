"""Token exchange (RFC 8693) as a feature: ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` at
``/token``, and ``act`` in introspection. :mod:`.protocol` says what is exchanged for what, and who may.

Switched on by ``OAuthServer(features=[TokenExchange()])`` or ``ASGI_OAUTH_FEATURES=token_exchange``. A client
may exchange the tokens issued to it, and those issued for the audiences it serves: ``new_client(...,
grant_types=[..., TOKEN_EXCHANGE], extra=may_exchange(["https://mcp.example.com/mcp"]))``. Needs no extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...models import AccessToken, Client, TokenFamily
from .. import Context, Feature, GrantSpec, Incoming, TokenResponse
from . import protocol
from .protocol import ACCESS_TOKEN_TYPE, act_of, may_exchange

__all__ = ["ACCESS_TOKEN_TYPE", "TOKEN_EXCHANGE", "TokenExchange", "may_exchange"]

TOKEN_EXCHANGE = protocol.GRANT

_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "subject_token": {"type": "string", "description": "RFC 8693: an access token of this server, for a user"},
    "subject_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
    "actor_token": {"type": "string", "description": "RFC 8693: an access token of the exchanging client"},
    "actor_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
    "requested_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
    "audience": {"type": "string", "description": "RFC 8693: the target, as an absolute URI (as resource)"},
}


class TokenExchange(Feature):
    name = "token_exchange"

    def grants(self) -> Sequence[GrantSpec]:
        return (GrantSpec(TOKEN_EXCHANGE, self._exchange, params=_PARAMS, errors=("invalid_target",)),)

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        act = act_of(record) if isinstance(record, AccessToken) else None
        return {"act": dict(act)} if act is not None else {}

    async def _exchange(self, ctx: Context, client: Client, request: Incoming) -> TokenResponse:
        return await protocol.exchange(ctx, client, request)
