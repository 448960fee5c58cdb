"""The pieces behind :func:`asgi_oauth.mcp.authorized_app`, for apps that wire the ``mcp`` SDK by hand.

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
from collections.abc import Mapping, Sequence

from mcp.server.auth.provider import AccessToken as McpAccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..dpop import jkt_of
from ..middleware import TokenValidator, ValidationUnavailable, bearer_token
from ..models import AccessToken, scope_set

__all__ = ["TokenVerifier", "ToolScopes", "sdk_token", "unavailable_as_503"]

logger = logging.getLogger("asgi_oauth")


class TokenVerifier:
    """An ``mcp.server.auth.provider.TokenVerifier`` over any of this package's validators (local or remote)."""

    def __init__(self, validator: TokenValidator) -> None:
        self._validator = validator

    async def verify_token(self, token: str) -> McpAccessToken | None:
        found = await self._validator.validate(token)
        if found is None or jkt_of(found.extra) is not None:  # the SDK checks no DPoP proof: a bound token is refused
            return None
        return sdk_token(token, found)


def sdk_token(token: str, found: AccessToken) -> McpAccessToken:
    """The SDK's ``AccessToken`` for a token this server validated."""
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


class ToolScopes:
    """Step-up for MCP tools: a ``tools/call`` of a tool that needs scopes the token lacks is answered 403
    ``insufficient_scope`` naming every scope the call needs, before the MCP app sees it.

    Inside the MCP app a refused tool can only be a JSON-RPC error, which no client reads as "ask for more";
    MCP clients (the ``mcp`` SDK's among them) step up on an HTTP 403 whose ``WWW-Authenticate`` carries
    ``error="insufficient_scope"`` and the ``scope`` to ask for. ``required`` maps tool names to their scopes;
    ``base`` are the scopes every call needs (the server's ``required_scopes``). Requests without a usable
    token pass through: the SDK's own middleware answers those with its 401. The token already validated in
    front of it (by :class:`~asgi_oauth.BearerTokenMiddleware`, or the SDK's authentication middleware) is
    used as it is; only without one is it validated here. ``path`` limits it to the MCP endpoint.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        validator: TokenValidator,
        required: Mapping[str, Sequence[str]],
        base: Sequence[str] = (),
        resource_metadata: str | None = None,
        max_body: int = 1024 * 1024,
        path: str | None = None,
    ) -> None:
        self.app = app
        self._path = path
        self._validator = validator
        self._required = {name: tuple(scopes) for name, scopes in required.items()}
        self._base = tuple(base)
        self._resource_metadata = resource_metadata
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not self._required
            or (self._path is not None and scope["path"] != self._path)
        ):
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive, self._max_body)
        needed = self._needed(body) if not more else set()
        if needed:
            granted = await self._granted(scope)
            if granted is not None and not needed <= granted:
                await self._refuse(sorted(needed | set(self._base)), scope, receive, send)
                return
        await self.app(scope, _replay(body, more, receive), send)

    async def _granted(self, scope: Scope) -> frozenset[str] | None:
        """The scopes of the request's token, ``None`` without a valid one."""
        known = scope.get("state", {}).get("token")
        if isinstance(known, AccessToken):
            return scope_set(known.scope)
        sdk = getattr(scope.get("user"), "access_token", None)
        if isinstance(sdk, McpAccessToken):
            return frozenset(sdk.scopes)
        token = bearer_token(scope)
        found = await self._validator.validate(token) if isinstance(token, str) else None
        return scope_set(found.scope) if found is not None and jkt_of(found.extra) is None else None

    def _needed(self, body: bytes) -> set[str]:
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes: the app refuses it
            return set()
        calls = message if isinstance(message, list) else [message]
        needed: set[str] = set()
        for call in calls:
            if isinstance(call, dict) and call.get("method") == "tools/call" and isinstance(call.get("params"), dict):
                needed.update(self._required.get(str(call["params"].get("name")), ()))
        return needed

    async def _refuse(self, scopes: list[str], scope: Scope, receive: Receive, send: Send) -> None:
        wanted = " ".join(scopes)
        challenge = f'Bearer error="insufficient_scope", scope="{wanted}"'
        if self._resource_metadata is not None:
            challenge += f', resource_metadata="{self._resource_metadata}"'
        body = {"error": "insufficient_scope", "error_description": "this tool needs more scopes", "scope": wanted}
        headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
        await JSONResponse(body, 403, headers=headers)(scope, receive, send)


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, up to ``limit`` bytes; ``True`` when more follows (too big to inspect: passed on)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body, False
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, False
        if len(body) > limit:
            return body, True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
