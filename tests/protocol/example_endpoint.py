"""The README's example endpoint: JSON in, 201 out, with its own metadata key, OpenAPI path item and error code.

A much reduced RFC 7591 registration: an authenticated resource server (``introspect_any``) registers a
client_credentials client by name, ``OAuthServer(..., endpoints=[*DEFAULT_ENDPOINTS, REGISTER])`` (with the
built-in registration feature off: a path is listed once).
"""

from __future__ import annotations

from typing import Any

from asgi_oauth import ClientError, OAuthError, new_client, register_client
from asgi_oauth.protocol.client_auth import authenticate
from asgi_oauth.web.app import OAuthServer
from asgi_oauth.web.endpoints import EndpointRequest, EndpointResponse, EndpointSpec


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"  # RFC 7591 section 3.2.2


async def register(server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
    caller = await authenticate(server.context, request)
    if not caller.introspect_any:
        raise InvalidClientMetadata("only resource servers may register clients here")
    name = request.json.get("client_name") if isinstance(request.json, dict) else None
    try:
        client, secret = new_client(name=str(name or ""), grant_types=["client_credentials"], scope="read")
    except ClientError as refused:
        raise InvalidClientMetadata(str(refused)) from None
    await register_client(server.store, client)
    return EndpointResponse(201, {"client_id": client.client_id, "client_secret": secret, "client_name": client.name})


def _openapi(server: OAuthServer) -> dict[str, Any]:
    body = {"type": "object", "properties": {"client_name": {"type": "string"}}, "required": ["client_name"]}
    return {
        "post": {
            "summary": "Register a client_credentials client (a reduced RFC 7591)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "201": {"description": "registered; the secret is shown once"},
                "400": {"$ref": "#/components/responses/InvalidRequest"},
                "401": {"$ref": "#/components/responses/InvalidClient"},
            },
        }
    }


REGISTER = EndpointSpec(
    "/register",
    register,
    body="json",
    url_key="registration_endpoint",
    openapi=_openapi,
    errors=("invalid_client_metadata",),
)
