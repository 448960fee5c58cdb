"""MCP servers behind this authorization server.

* ``mcp`` SDK: ``app = authorized_app(MCPServer(...), "https://mcp.example.com", sign_in=...)`` (this module,
  ``pip install 'asgi-oauth[mcp]'``).
* FastMCP: ``FastMCP(..., auth=AuthorizationServer("https://mcp.example.com", sign_in=...))`` from
  :mod:`asgi_oauth.mcp.fastmcp` (``pip install 'asgi-oauth[fastmcp]'``).

Both build an :class:`MCPAuthorization`; the sign-ins are :mod:`asgi_oauth`'s (re-exported here). The pieces
for wiring the SDK by hand (:class:`TokenVerifier`, :class:`ToolScopes`, :func:`unavailable_as_503`) stay.
"""

from __future__ import annotations

from ..web.signin import HostSignIn as HostSignIn
from ..web.signin import OpenIDSignIn as OpenIDSignIn
from ..web.signin import PasswordSignIn as PasswordSignIn
from .adapter import TokenVerifier as TokenVerifier
from .adapter import ToolScopes as ToolScopes
from .adapter import unavailable_as_503 as unavailable_as_503
from .sdk import authorized_app as authorized_app
from .server import MCPAuthorization as MCPAuthorization

__all__ = [
    "HostSignIn",
    "MCPAuthorization",
    "OpenIDSignIn",
    "PasswordSignIn",
    "TokenVerifier",
    "ToolScopes",
    "authorized_app",
    "unavailable_as_503",
]
