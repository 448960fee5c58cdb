"""Reading an ASGI scope, shared by the authorization server's endpoints and the resource-server middleware.

It lives outside ``asgi_oauth.web`` so the resource-server side does not import the authorization
server's glue, and it imports no framework: the scope is a plain mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as latin-1 like the HTTP servers do."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every value of header ``name`` (lower case) among raw ``headers``, in order: for a header that must come once
    (RFC 9449's ``DPoP``), so that a second one is seen and refused."""
    return [value.decode("latin-1") for key, value in headers if key == name]


def route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path in ``path`` and the mount in ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


def peer(scope: Scope) -> str | None:
    """The sender's address, for per-address limits; ``None`` when the server does not say."""
    client = scope.get("client")
    return str(client[0]) if client else None
