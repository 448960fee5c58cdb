"""The OpenAPI path item of the device authorization endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...protocol.grants import SCOPE_PATTERN

if TYPE_CHECKING:
    from ...web.app import OAuthServer


def device_authorization_path(server: OAuthServer) -> Mapping[str, Any]:
    """The OpenAPI path item of ``/device_authorization`` (RFC 8628 section 3.1-3.2)."""
    text = {"type": "string"}
    client_auth = {
        "client_id": {**text, "description": "a public client's id (others authenticate as at /token)"},
        "client_secret": {**text, "description": "client_secret_post"},
    }
    fields = {
        "scope": {**text, "pattern": SCOPE_PATTERN, "description": "a subset of the client's scope"},
        "resource": {**text, "format": "uri", "description": "RFC 8707: the resource the tokens are for"},
        **client_auth,
    }
    issued = {
        "device_code": text,
        "user_code": text,
        "verification_uri": {**text, "format": "uri"},
        "verification_uri_complete": {**text, "format": "uri"},
        "expires_in": {"type": "integer"},
        "interval": {"type": "integer"},
    }
    answer = {"type": "object", "required": [k for k in issued if k != "verification_uri_complete"]}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "a device authorization was started",
            "content": {"application/json": {"schema": {**answer, "properties": issued}}},
        },
        "400": {
            "description": "invalid_request, unauthorized_client, invalid_scope or invalid_target",
            "content": error,
        },
        "401": {"description": "invalid_client", "content": error},
        "405": {"description": "method not allowed", "content": error},
        "413": {"description": "body too large", "content": error},
        "429": {"description": "too many failed client authentications", "content": error},
        "503": {"description": "the store is down", "content": error},
    }
    body = {"type": "object", "properties": fields}
    return {
        "post": {
            "summary": "Device authorization (RFC 8628)",
            "security": [{"client_secret_basic": []}, {}],
            "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": body}}},
            "responses": responses,
        }
    }
