"""An OpenAPI 3.1 description of the endpoints, served at ``<mount>/openapi.json`` for tools and fuzzers."""

from __future__ import annotations

from typing import Any


def openapi_document(metadata: dict[str, Any]) -> dict[str, Any]:
    """Describe what this server has enabled; ``metadata`` is its RFC 8414 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "asgi_oauth authorization server", "version": "1"},
        "paths": {},
    }
