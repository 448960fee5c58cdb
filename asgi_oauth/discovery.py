"""Publish the server's metadata where clients look for it, outside the mount.

RFC 8414 section 3.1 inserts the well-known path *before* the issuer's path: for the issuer
``https://host/oauth`` the document lives at ``https://host/.well-known/oauth-authorization-server/oauth``,
which the mounted server cannot answer. MCP clients (and its conformance suite) then try
``/.well-known/openid-configuration/oauth`` and ``/oauth/.well-known/openid-configuration``; the server
answers the last one itself. These routes serve the other two, with the bytes the mount serves.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, Route

from .cors import CORS
from .web.http import Document

if TYPE_CHECKING:
    from .web.app import OAuthServer

#: The two root locations, RFC 8414's first: clients stop at the first that answers.
WELL_KNOWN = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


def discovery_paths(issuer: str) -> list[str]:
    """The host-root paths of the metadata for ``issuer`` (``/oauth`` -> ``/.well-known/.../oauth``)."""
    path = urlsplit(issuer).path.rstrip("/")
    return [name + path for name in WELL_KNOWN]


def discovery_routes(server: OAuthServer) -> list[BaseRoute]:
    """Routes serving ``server.metadata`` at its root discovery paths, GET/HEAD with CORS, cacheable."""
    document = CORS(Document(server.metadata_json))
    paths = discovery_paths(server.settings.issuer)
    return [Route(path, document, methods=["GET", "HEAD", "OPTIONS"]) for path in paths]


def publish_discovery(routes: MutableSequence[BaseRoute], server: OAuthServer) -> None:
    """Put :func:`discovery_routes` first in ``routes`` (a route list, or ``app.router.routes``), ahead of
    any catch-all mount: ``publish_discovery(app.router.routes, oauth)``."""
    routes[0:0] = discovery_routes(server)
