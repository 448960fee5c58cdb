"""Token exchange (RFC 8693) as a feature: ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` at
``/token``, and ``act`` in introspection. :mod:`.protocol` says what is exchanged for what, and who may;
:mod:`.id_jag` how this server issues ID-JAGs for other authorization servers (with OpenID Connect on).

Switched on by ``OAuthServer(features=[TokenExchange()])`` or ``ASGI_OAUTH_FEATURES=token_exchange``. A client
may exchange the tokens issued to it, and those issued for the audiences it serves: ``new_client(...,
grant_types=[..., TOKEN_EXCHANGE], extra=may_exchange(["https://mcp.example.com/mcp"]))``. Needs no extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...models import AccessToken, Client, TokenFamily
from ...settings import SettingsError, load_section
from .. import Context, Feature, GrantSpec, Incoming, TokenResponse, feature_of
from . import protocol
from .names import ACCESS_TOKEN_TYPE, GRANT, ID_JAG_TOKEN_TYPE, ID_JAG_TYP, ID_TOKEN_TYPE, JWT_TOKEN_TYPE
from .protocol import act_of, may_exchange
from .settings import ExchangeSettings, IdJagTarget

if TYPE_CHECKING:
    from ...web.app import OAuthServer

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ID_JAG_TOKEN_TYPE",
    "ID_JAG_TYP",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE",
    "ExchangeSettings",
    "IdJagTarget",
    "TokenExchange",
    "may_exchange",
]

#: The grant type to register a client for (``new_client(grant_types=[..., TOKEN_EXCHANGE])``).
TOKEN_EXCHANGE = GRANT

_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "subject_token": {
        "type": "string",
        "description": "RFC 8693: an access token (or ID token) of this server, or a JWT of a trusted issuer",
    },
    "subject_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE]},
    "actor_token": {"type": "string", "description": "RFC 8693: an access token of the exchanging client"},
    "actor_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
    "requested_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE, ID_JAG_TOKEN_TYPE]},
    "audience": {
        "type": "string",
        "description": "RFC 8693: the target resource as an absolute URI (as resource); for an ID-JAG, the issuer "
        "of the authorization server it is for",
    },
}


class TokenExchange(Feature):
    """Token exchange (RFC 8693) at ``/token``: a client trades a token it holds for one for another audience,
    acting for the token's user; with OpenID Connect on, also for ID-JAGs to other authorization servers."""

    name = "token_exchange"
    settings_model = ExchangeSettings

    def __init__(self, settings: ExchangeSettings | None = None) -> None:
        self.settings = settings if settings is not None else load_section(ExchangeSettings)
        self._server: OAuthServer | None = None

    def attach(self, server: OAuthServer, store: Any) -> None:
        from ..oidc import OpenIDConnect

        self._server = server
        if self.settings.id_jag_targets and feature_of(server.features, OpenIDConnect) is None:
            raise SettingsError(
                "token_exchange: ID-JAGs (ASGI_OAUTH_EXCHANGE_ID_JAG_TARGETS) are signed with OpenID Connect's keys: "
                "switch on oidc too"
            )

    def grants(self) -> Sequence[GrantSpec]:
        return (GrantSpec(TOKEN_EXCHANGE, self._exchange, params=_PARAMS, errors=("invalid_target",)),)

    def introspection_fields(self, record: AccessToken | TokenFamily) -> Mapping[str, Any]:
        act = act_of(record) if isinstance(record, AccessToken) else None
        return {"act": dict(act)} if act is not None else {}

    async def _exchange(self, ctx: Context, client: Client, request: Incoming) -> TokenResponse:
        from ..assertions import JWTBearerGrant
        from ..oidc import OpenIDConnect

        features = self._server.features if self._server is not None else ()
        oidc = feature_of(features, OpenIDConnect) if self.settings.id_jag_targets else None
        keys = oidc.keys if oidc is not None else None
        bearer = feature_of(features, JWTBearerGrant)  # it checks JWTs of trusted issuers
        admit = bearer.admit if bearer is not None else None
        return await protocol.exchange(ctx, client, request, settings=self.settings, keys=keys, bearer=admit)
