"""The OpenAPI path item of ``/register``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...web.app import OAuthServer


def registration_path(server: OAuthServer) -> Mapping[str, Any]:
    """The OpenAPI path item of ``/register``: RFC 7591 metadata in, the registered client (201) or an error out."""
    strings = {"type": "array", "items": {"type": "string"}}
    methods = ["client_secret_basic", "client_secret_post", "none"]
    properties: dict[str, Any] = {
        "redirect_uris": strings,
        "token_endpoint_auth_method": {"type": "string", "enum": methods},
        "grant_types": strings,
        "response_types": strings,
        "scope": {"type": "string"},
        "client_name": {"type": "string"},
    }
    metadata = {
        "type": "object",
        "description": "RFC 7591 section 2; other fields are ignored",
        "properties": properties,
    }
    issued = {
        "client_id": {"type": "string"},
        "client_id_issued_at": {"type": "integer"},
        "client_secret": {"type": "string"},
        "client_secret_expires_at": {"type": "integer"},
    }
    required = ["client_id", "client_id_issued_at", "redirect_uris", "token_endpoint_auth_method", "grant_types"]
    registered = {"type": "object", "required": required, "properties": {**properties, **issued}}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    text = {"required": True, "schema": {"type": "string"}}
    responses: dict[str, Any] = {
        "201": {"description": "registered", "content": {"application/json": {"schema": registered}}},
        "400": {"description": "invalid_client_metadata, invalid_redirect_uri or invalid_request", "content": error},
        "401": {
            "description": "no valid initial access token",
            "content": error,
            "headers": {"WWW-Authenticate": {"description": "Bearer challenge", **text}},
        },
        "405": {"description": "method not allowed", "content": error},
        "413": {"description": "body too large", "content": error},
        "429": {
            "description": "too many registrations from this address",
            "content": error,
            "headers": {"Retry-After": {"description": "seconds to wait", **text}},
        },
        "503": {"description": "the cap on dynamic clients is reached, or the store is down", "content": error},
    }
    operation = {"summary": "Dynamic client registration (RFC 7591)", "responses": responses}
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": metadata}}}
    return {"post": operation}
