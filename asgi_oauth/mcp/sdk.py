"""The ``mcp`` SDK's ``MCPServer`` behind this authorization server, in one call: :func:`authorized_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from ..middleware import BearerTokenMiddleware, bearer_token, protect
from ..models import AccessToken
from ..web.signin import SignIn
from .adapter import ToolScopes, sdk_token
from .server import Guard, MCPAuthorization


def authorized_app(
    mcp: MCPServer[Any],
    url: str | None = None,
    *,
    sign_in: SignIn | None = None,
    scopes: Sequence[str] = ("mcp",),
    tools: Mapping[str, Sequence[str]] | None = None,
    registration: bool | None = None,
    path: str = "/mcp",
    json_response: bool = True,
    **options: Any,
) -> Starlette:
    """The ASGI app serving ``mcp`` at ``<url><path>`` behind this authorization server (at ``<url>/oauth``).

    Build the ``MCPServer`` without ``auth=``; this adds it. The app serves the authorization server's
    metadata where MCP clients look, the MCP endpoint's protected resource metadata (RFC 9728) and its
    challenges, refuses tokens issued for another resource, runs the MCP app's lifespan and closes the
    store after it, and answers 503 (never a 401 or a 500) while the store is unreachable. The MCP app runs
    stateless, so any number of workers sharing Redis serve it. ``tools`` maps tool names to the scopes a
    call of them needs on top of ``scopes``: a token without them gets a 403 ``insufficient_scope`` naming
    them, and the client steps up. ``mcp.server.auth.middleware.auth_context.get_access_token()`` tells a
    tool whose token it is. The other keywords are :class:`~asgi_oauth.mcp.MCPAuthorization`'s.
    """
    if mcp.settings.auth is not None:
        raise ValueError("build the MCPServer without auth=...: authorized_app adds the authorization")
    authorization = MCPAuthorization(
        url, sign_in=sign_in, scopes=scopes, tools=tools, registration=registration, path=path, **options
    )
    host = urlsplit(authorization.url).hostname or "127.0.0.1"
    mcp_app = mcp.streamable_http_app(
        streamable_http_path=path, stateless_http=True, json_response=json_response, host=host
    )
    steps = ToolScopes(
        mcp_app,
        validator=authorization.validator,
        required=authorization.tools,
        base=authorization.scopes,
        resource_metadata=authorization.resource_metadata,
        path=path,
    )
    protected = BearerTokenMiddleware(
        _SdkContext(AuthContextMiddleware(steps)),
        validator=authorization.validator,
        rules=[protect(path, *authorization.scopes)],
        resource=authorization.resource,
        authorization_servers=[authorization.issuer],
        scopes_supported=authorization.scopes_supported,
        realm=authorization.settings.realm,
        dpop=authorization.dpop,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_app.router.lifespan_context(mcp_app):  # the SDK's session manager
            yield

    app = Starlette(
        routes=[*authorization.routes(), Mount("/", app=protected)],
        middleware=[Middleware(Guard, authorization=authorization)],
        lifespan=lifespan,
    )
    app.state.authorization = authorization
    return app


class _SdkContext:
    """Hands the token the middleware validated to the SDK as its ``AuthenticatedUser``, so that the SDK's
    ``AuthContextMiddleware`` behind it makes ``get_access_token()`` work in tools."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = scope.get("state", {}).get("token")
        token = bearer_token(scope, dpop=True) if isinstance(found, AccessToken) else None
        if isinstance(found, AccessToken) and isinstance(token, str):
            scope["user"] = AuthenticatedUser(sdk_token(token, found))
        await self.app(scope, receive, send)
