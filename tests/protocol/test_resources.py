"""Resource identifiers compared the way both sides of RFC 8707 must, and the RFC 9728 document."""

from __future__ import annotations

import pytest

from asgi_oauth.protocol.resources import (
    canonical_resource,
    protected_resource_metadata,
    resource_metadata_url,
    same_resource,
    well_known_url,
)


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("https://api.example/mcp", "https://api.example/mcp"),
        ("HTTPS://API.Example/mcp", "https://api.example/mcp"),
        ("https://api.example:443/mcp/", "https://api.example/mcp"),
        ("http://api.example:80/", "http://api.example"),
        ("http://api.example:8080/mcp", "http://api.example:8080/mcp"),
        ("https://api.example:80/mcp", "https://api.example:80/mcp"),  # 80 is not https's default
        ("https://api.example/MCP", "https://api.example/MCP"),  # paths are case-sensitive
        ("https://api.example/mcp?tenant=a", "https://api.example/mcp?tenant=a"),
        ("http://[::1]:8000/mcp", "http://[::1]:8000/mcp"),
    ],
)
def test_canonical_resource(uri: str, canonical: str) -> None:
    assert canonical_resource(uri) == canonical


@pytest.mark.parametrize(
    "uri", ["/mcp", "api.example/mcp", "https://api.example/mcp#x", "https://u:p@api.example/mcp", "https://h:99999/"]
)
def test_what_is_not_a_resource(uri: str) -> None:
    with pytest.raises(ValueError):
        canonical_resource(uri)


def test_same_resource() -> None:
    assert same_resource("https://API.example:443/mcp/", "https://api.example/mcp")
    assert not same_resource("https://api.example/mcp", "https://api.example/mcp2")
    assert not same_resource("http://api.example/mcp", "https://api.example/mcp")
    assert not same_resource("not a uri", "https://api.example/mcp")


def test_well_known_urls_insert_before_the_path() -> None:
    assert (
        resource_metadata_url("https://h.example/mcp/") == "https://h.example/.well-known/oauth-protected-resource/mcp"
    )
    assert resource_metadata_url("https://h.example") == "https://h.example/.well-known/oauth-protected-resource"
    assert well_known_url("https://h.example/oauth", "/.well-known/x") == "https://h.example/.well-known/x/oauth"


def test_metadata_document_never_advertises_offline_access() -> None:
    document = protected_resource_metadata(
        "https://h.example/mcp", ["https://h.example/oauth"], ["read", "offline_access", "read", "write"]
    )
    assert document == {
        "resource": "https://h.example/mcp",
        "authorization_servers": ["https://h.example/oauth"],
        "scopes_supported": ["read", "write"],
        "bearer_methods_supported": ["header"],
    }
    named = protected_resource_metadata("https://h.example/mcp", ["https://h.example/oauth"], [], resource_name="X")
    assert named["resource_name"] == "X"
