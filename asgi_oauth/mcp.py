"""The ``mcp`` SDK's side of an MCP server whose tokens this authorization server issues.

``MCPServer(token_verifier=TokenVerifier(LocalValidator(store)), auth=AuthSettings(...))``: the SDK asks
:meth:`TokenVerifier.verify_token` for every request to the MCP endpoint, and gets the SDK's ``AccessToken``
with the token's scopes, client, subject, expiry and ``resource`` (its RFC 8707 audience, which the SDK
checks against ``resource_server_url`` when ``validate_token_resource=True``).

Needs ``pip install 'asgi-oauth[mcp]'``. Validation that cannot be done (the store is unreachable) raises
:class:`~asgi_oauth.ValidationUnavailable` rather than answering "no such token": the SDK would turn that
into a 401 and send clients to sign in again. :func:`unavailable_as_503` turns it into a 503 instead.
"""

from __future__ import annotations

import json
import logging

from mcp.server.auth.provider import AccessToken as McpAccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import TokenValidator, ValidationUnavailable
from .models import scope_set

__all__ = ["TokenVerifier", "unavailable_as_503"]

logger = logging.getLogger("asgi_oauth")


class TokenVerifier:
    """An ``mcp.server.auth.provider.TokenVerifier`` over any of this package's validators (local or remote)."""

    def __init__(self, validator: TokenValidator) -> None:
        self._validator = validator

    async def verify_token(self, token: str) -> McpAccessToken | None:
        found = await self._validator.validate(token)
        if found is None:
            return None
        return McpAccessToken(
            token=token,
            client_id=found.client_id,
            scopes=sorted(scope_set(found.scope)),
            expires_at=int(found.exp),
            resource=found.resource,
            subject=found.sub,
        )


_UNAVAILABLE = json.dumps(
    {"error": "temporarily_unavailable", "error_description": "token validation is temporarily unavailable"}
).encode()


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ValidationUnavailable):
        headers = {"Cache-Control": "no-store", "Retry-After": "1"}
        return Response(_UNAVAILABLE, 503, headers=headers, media_type="application/json")
    return PlainTextResponse("Internal Server Error", 500)


def unavailable_as_503(app: Starlette) -> ASGIApp:
    """The MCP app (a Starlette app the SDK built), answering 503 (retry later) instead of a 500 when a token
    could not be checked.

    The SDK validates in its authentication middleware, outside Starlette's per-exception handlers, so the
    answer comes from the server-error handler; that handler re-raises after answering, which is swallowed
    here for this one exception (the response is already sent).
    """
    app.add_exception_handler(Exception, _server_error)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except ValidationUnavailable:
            logger.warning("MCP request answered 503: token validation is unavailable")

    return guarded
