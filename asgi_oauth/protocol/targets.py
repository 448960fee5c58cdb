"""Resource indicators (RFC 8707): which resource a token is for, so a resource server can refuse tokens minted
for another one (MCP requires it: a token for one MCP server must not open another).

A client names the resource with ``resource`` at ``/authorize`` and ``/token``. The server keeps it with the
code and the refresh family and puts it on every access token issued under them (introspection's ``aud``).
Resources compare in a canonical form: scheme and host lower-cased, a default port dropped, a trailing slash
ignored.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidTarget
from .params import Params

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_resource(uri: str) -> str | None:
    """``uri`` in canonical form, or ``None`` when it is no resource indicator (an absolute http(s) URI
    without a fragment, RFC 8707 section 2)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "#" in uri or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def requested_resource(params: Params, allowed: tuple[str, ...]) -> str | None:
    """The canonical resource a request names, ``None`` when it names none; :class:`InvalidTarget` when it is
    not a resource indicator or not one of ``allowed`` (canonical; empty allows any)."""
    raw = params.get("resource")
    if raw is None:
        return None
    resource = canonical_resource(raw)
    if resource is None:
        raise InvalidTarget("resource must be an absolute http or https URI without a fragment (RFC 8707)")
    if allowed and resource not in allowed:
        raise InvalidTarget("this server issues no tokens for that resource")
    return resource


def within(requested: str | None, granted: str | None) -> str | None:
    """The resource a token may be for when its grant was for ``granted``: the same one, or any allowed one
    when the grant named none; :class:`InvalidTarget` when a bound grant is asked for another."""
    if granted is None or requested is None or requested == granted:
        return requested if requested is not None else granted
    raise InvalidTarget("the grant is for another resource")
