"""Canonical resource URIs (RFC 8707): a leaf module, so the settings can check them without reaching up into
the protocol layer (which re-exports it from :mod:`asgi_oauth.protocol.resources`)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_resource(uri: str) -> str:
    """``uri`` with scheme and host lower-cased, a default port and a trailing slash dropped.

    Path and query are kept as sent (their case matters). Raises :class:`ValueError` for what RFC 8707
    section 2 refuses as a resource: a relative URI, one with a fragment, or with user information.
    """
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"resource {uri!r} must be an absolute URI")
    if parts.fragment or uri.endswith("#"):
        raise ValueError(f"resource {uri!r} must not have a fragment")
    if "@" in parts.netloc:
        raise ValueError(f"resource {uri!r} must not carry user information")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"resource {uri!r} must name a host")
    port = parts.port  # raises ValueError for a port out of range or not a number
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
