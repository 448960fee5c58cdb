"""Resource identifiers (RFC 8707) and protected resource metadata (RFC 9728), free of any web framework.

A resource server and the authorization server must agree whether a token's audience is "this resource",
though clients spell one URI several ways (``HTTPS://API.example:443/mcp/``). :func:`canonical_resource`
gives the one spelling both sides compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..uris import canonical_resource as canonical_resource

#: Never advertised as a resource's scope: it asks the authorization server for a refresh token, it
#: grants nothing at the resource (MCP clients add it themselves when the server offers refresh).
OFFLINE_ACCESS = "offline_access"
PRM_WELL_KNOWN = "/.well-known/oauth-protected-resource"


def same_resource(a: str, b: str) -> bool:
    """Whether two resource URIs name the same resource; a malformed one matches nothing."""
    if a == b:
        return True
    try:
        return canonical_resource(a) == canonical_resource(b)
    except ValueError:
        return False


def well_known_url(uri: str, well_known: str) -> str:
    """RFC 8414 section 3.1 / RFC 9728 section 3.1: ``well_known`` inserted between ``uri``'s host and its
    path, a terminating slash removed (``https://h/mcp`` -> ``https://h/.well-known/x/mcp``)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, well_known + parts.path.rstrip("/"), parts.query, ""))


def resource_metadata_url(resource: str) -> str:
    """Where RFC 9728 puts the protected resource metadata of ``resource``."""
    return well_known_url(resource, PRM_WELL_KNOWN)


def advertised_scopes(scopes: Iterable[str]) -> list[str]:
    """``scopes`` without duplicates, in order, and without ``offline_access``."""
    return [s for s in dict.fromkeys(scopes) if s and s != OFFLINE_ACCESS]


def protected_resource_metadata(
    resource: str,
    authorization_servers: Iterable[str],
    scopes_supported: Iterable[str],
    *,
    resource_name: str | None = None,
) -> dict[str, Any]:
    """The RFC 9728 section 2 document: bearer tokens in the ``Authorization`` header only (RFC 6750 §2.1)."""
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": advertised_scopes(scopes_supported),
        "bearer_methods_supported": ["header"],
    }
    if resource_name is not None:
        document["resource_name"] = resource_name
    return document
