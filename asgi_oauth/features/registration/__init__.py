"""RFC 7591 dynamic client registration as a feature: ``POST /register`` (see :mod:`.protocol` for its bounds), and
dynamic clients kept once they got tokens.

Switched on by ``ASGI_OAUTH_ENABLE_DYNAMIC_REGISTRATION``, ``ASGI_OAUTH_FEATURES=registration`` or
``OAuthServer(features=[DynamicRegistration()])``. Its settings (``DYNAMIC_*``) stay in the core's model: they
describe dynamic clients, which the core's store keeps and expires, and ``DYNAMIC_REGISTRATION_SCOPES`` bounds
the clients of Client ID Metadata Documents too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import Context, EndpointRequest, EndpointResponse, EndpointSpec, Feature, TokenResponse
from . import protocol
from .openapi import registration_path

if TYPE_CHECKING:
    from ...models import Client
    from ...web.app import OAuthServer

__all__ = ["DynamicRegistration"]


class DynamicRegistration(Feature):
    """RFC 7591 dynamic client registration at ``/register``, which MCP clients use to register themselves; its
    limits are the core's ``DYNAMIC_*`` settings."""

    name = "registration"

    def endpoints(self) -> Sequence[EndpointSpec]:
        return (
            EndpointSpec(
                "/register",
                self._register,
                admit=self._count,
                body="json",
                url_key="registration_endpoint",
                openapi=registration_path,
                errors=("invalid_redirect_uri", "invalid_client_metadata", "invalid_token"),
                cors=True,  # browser-based MCP clients register from script
            ),
        )

    async def _register(self, server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
        """RFC 7591 section 3: register a client from JSON metadata; 201 with its id (and secret)."""
        body = await protocol.register(
            server.context, server.grants, request.json, authorization=request.authorization, address=request.peer
        )
        return EndpointResponse(201, body)

    async def _count(self, server: OAuthServer, request: EndpointRequest) -> None:
        """Every registration request counts towards its address's allowance, before its body is read."""
        await protocol.count_registration(server.context, request.peer)

    async def tokens_issued(self, ctx: Context, client: Client, response: TokenResponse) -> None:
        await protocol.keep_used(ctx, client)
