"""An OpenAPI 3.1 description of the endpoints, served at ``<mount>/openapi.json`` for tools and fuzzers.

Each registered endpoint gives its own path item (the builders below are the built-in ones), and they
read the server's RFC 8414 metadata and grant registry, so closed sets (grant types and their parameters,
response types, PKCE methods) list exactly what this server has switched on. Paths are relative to the
issuer, which is where the sub-app is mounted.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..protocol.grants import PKCE_PATTERN as PKCE
from ..protocol.grants import SCOPE_PATTERN as SCOPE
from ..protocol.grants import GrantSpec

if TYPE_CHECKING:
    from .app import OAuthServer

# The RFC 6749 section 5.2 character set of error_description.
DESCRIPTION = r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$"
# RFC 6749 sections 5.2 and 4.1.2.1; temporarily_unavailable also answers 429 and 503.
TOKEN_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "temporarily_unavailable",
]
TOKEN_TYPE_HINTS = ["access_token", "refresh_token"]


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _json(description: str, ref: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, *, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


_CLIENT_AUTH = {
    "client_id": _string("client_secret_post and public clients (auth method none); with Basic, must match it"),
    "client_secret": _string("client_secret_post only; never together with HTTP Basic", format="password"),
}
_NO_STORE = {"Cache-Control": _header("no-store", required=True), "Pragma": _header("no-cache", required=True)}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGE_HEADERS = {"X-Frame-Options": _header("DENY", required=True), "Cache-Control": _header("no-store", required=True)}

#: Errors every form endpoint (token, introspection, revocation) may answer, RFC 6749 section 5.2 shaped.
_FORM_ERRORS = {
    "400": _ref("InvalidRequest"),
    "401": _ref("InvalidClient"),
    "405": _ref("MethodNotAllowed"),
    "413": _ref("TooLarge"),
    "429": _ref("TooManyAttempts"),
    "503": _ref("Unavailable"),
}

_COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "client_secret_basic": {
            "type": "http",
            "scheme": "basic",
            "description": "client_id and secret, each form-url-encoded first (RFC 6749 section 2.3.1)",
        },
    },
    "schemas": {
        "Error": {
            "type": "object",
            "description": "RFC 6749 section 5.2 error response",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "enum": TOKEN_ERRORS},
                "error_description": {"type": "string", "pattern": DESCRIPTION},
            },
            "additionalProperties": False,
        },
        "Token": {
            "type": "object",
            "description": "RFC 6749 section 5.1 access token response",
            "required": ["access_token", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer", "DPoP", "N_A"]},
                "expires_in": {"type": "integer", "minimum": 0},
                "scope": {"type": "string"},
                "refresh_token": {"type": "string"},
                "refresh_token_expires_in": {"type": "integer", "minimum": 0},
            },
        },
        "Introspection": {
            "type": "object",
            "description": "RFC 7662 section 2.2; only active is present for inactive tokens",
            "required": ["active"],
            "properties": {
                "active": {"type": "boolean"},
                "scope": {"type": "string"},
                "client_id": {"type": "string"},
                "sub": {"type": "string"},
                "username": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer", "DPoP", "refresh_token"]},
                "exp": {"type": "integer"},
                "iat": {"type": "integer"},
                "iss": {"type": "string"},
            },
        },
        "Document": {"type": "object", "required": ["openapi", "paths"]},
        "Metadata": {
            "type": "object",
            "description": "RFC 8414 authorization server metadata",
            "required": ["issuer", "authorization_endpoint", "token_endpoint", "response_types_supported"],
            "properties": {
                "issuer": {"type": "string"},
                "authorization_endpoint": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "introspection_endpoint": {"type": "string"},
                "revocation_endpoint": {"type": "string"},
                "response_types_supported": {"type": "array", "items": {"type": "string"}},
                "grant_types_supported": {"type": "array", "items": {"type": "string"}},
                "code_challenge_methods_supported": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "responses": {
        "InvalidRequest": _json(
            "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope or "
            "invalid_target; "
            "a parameter sent twice is invalid_request",
            "Error",
            _NO_STORE,
        ),
        "InvalidClient": _json(
            "invalid_client; WWW-Authenticate: Basic when HTTP Basic was tried",
            "Error",
            {**_NO_STORE, "WWW-Authenticate": _header('Basic realm="..."')},
        ),
        "MethodNotAllowed": _json(
            "any other method than the ones listed for this path", "Error", {"Allow": _header("POST", required=True)}
        ),
        "TooLarge": _json("the body is over max_body_size, refused before parsing", "Error", _NO_STORE),
        "TooManyAttempts": _json(
            "too many failed client authentications or sign-ins (error temporarily_unavailable)",
            "Error",
            {**_NO_STORE, "Retry-After": _header("seconds", required=True)},
        ),
        "Unavailable": _json("the store is unreachable (error temporarily_unavailable)", "Error", _NO_STORE),
        "Page": {"description": "an HTML page for the user, never a redirect", "content": _HTML},
    },
}


def _authorize_params(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "response_type": _string("RFC 6749 section 3.1.1", enum=metadata["response_types_supported"]),
        "client_id": _string("unknown ids get an HTML error page, never a redirect"),
        "redirect_uri": _string("exactly one registered for the client (any port for public loopback clients)"),
        "scope": _string("space-separated, a subset of the client's scopes", pattern=SCOPE),
        "state": _string("returned unchanged in the redirect"),
        "code_challenge": _string("RFC 7636; required of public clients", pattern=PKCE),
        "code_challenge_method": _string("RFC 7636", enum=metadata["code_challenge_methods_supported"]),
        "resource": _string("RFC 8707: the resource the tokens will be for (absolute URI, no fragment)", format="uri"),
    }


def _authorize(metadata: dict[str, Any], method: str) -> dict[str, Any]:
    params = _authorize_params(metadata)
    redirect = {"Location": _header("redirect_uri with code/error, state and iss; or the login URL", required=True)}
    responses: dict[str, Any] = {
        "200": {"description": "the consent page", "content": _HTML, "headers": _PAGE_HEADERS},
        "302": {"description": "to the client (code or error) or to the sign-in page", "headers": redirect},
        "400": _ref("Page"),
        "405": {"description": "a method other than GET or POST", "content": _HTML},
        "503": {"description": "the store is unreachable", "content": _HTML},
    }
    operation: dict[str, Any] = {"summary": "Authorization endpoint (RFC 6749 section 3.1)", "responses": responses}
    if method == "get":
        operation["parameters"] = [
            {"name": name, "in": "query", "required": name in ("response_type", "client_id"), "schema": schema}
            for name, schema in params.items()
        ]
        return operation
    fields = {
        **params,
        "csrf_token": _string("from the consent page"),
        "decision": _string("the button pressed", enum=["allow", "deny"]),
    }
    operation["requestBody"] = _form(fields, ["response_type", "client_id"])
    responses["302"] = {"description": "to the sign-in page", "headers": redirect}
    responses["303"] = {"description": "to the client (code or error)", "headers": redirect}
    responses["413"] = {"description": "the body is over max_body_size", "content": _HTML}
    return operation


def grant_params(grants: Iterable[GrantSpec]) -> dict[str, Any]:
    """The token request parameters of ``grants``; each description names the grants that take it.

    Grants may share a parameter (``scope``) only if they describe its schema alike, descriptions aside.
    """
    schemas: dict[str, Mapping[str, Any]] = {}
    takers: dict[str, list[str]] = {}
    for grant in grants:
        for name, schema in grant.params.items():
            first = schemas.setdefault(name, schema)
            if _without_description(first) != _without_description(schema):
                raise ValueError(f"grants {takers[name][0]} and {grant.name} describe parameter {name} differently")
            takers.setdefault(name, []).append(grant.name)
    return {
        name: {**schema, "description": f"{', '.join(sorted(takers[name]))}: {schema.get('description', '')}"}
        for name, schema in schemas.items()
    }


def _without_description(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "description"}


def token_path(server: OAuthServer) -> dict[str, Any]:
    fields = {
        "grant_type": _string("RFC 6749 section 4", enum=list(server.grants)),
        **grant_params(server.grants.values()),
    }
    return {
        "post": {
            "summary": "Token endpoint (RFC 6749 section 3.2)",
            "security": [{"client_secret_basic": []}, {}],
            "requestBody": _form({**fields, **_CLIENT_AUTH}, ["grant_type"]),
            "responses": {"200": _json("tokens issued", "Token", _NO_STORE), **_FORM_ERRORS},
        }
    }


def _token_operation(summary: str, ok: dict[str, Any], *, scope: bool) -> dict[str, Any]:
    fields = {
        "token": _string("an access or refresh token"),
        "token_type_hint": _string("a hint only", enum=TOKEN_TYPE_HINTS),
        **({"scope": _string("active only if the token holds all of these", pattern=SCOPE)} if scope else {}),
        **_CLIENT_AUTH,
    }
    return {
        "summary": summary,
        "security": [{"client_secret_basic": []}, {}],
        "requestBody": _form(fields, ["token"]),
        "responses": {"200": ok, **_FORM_ERRORS},
    }


def _document(summary: str, ref: str) -> dict[str, Any]:
    cached = {"Cache-Control": _header("public, max-age=300")}
    return {"get": {"summary": summary, "responses": {"200": _json(summary, ref, cached)}}}


def authorization_path(server: OAuthServer) -> dict[str, Any]:
    return {"get": _authorize(server.metadata, "get"), "post": _authorize(server.metadata, "post")}


def introspection_path(server: OAuthServer) -> dict[str, Any]:
    introspection = _json("the token's state; inactive for anything unknown or not the caller's", "Introspection")
    return {"post": _token_operation("Token introspection (RFC 7662)", introspection, scope=True)}


def revocation_path(server: OAuthServer) -> dict[str, Any]:
    revoked = {"description": "revoked, or nothing to revoke (RFC 7009 section 2.2); empty body"}
    return {"post": _token_operation("Token revocation (RFC 7009)", revoked, scope=False)}


def metadata_path(server: OAuthServer) -> dict[str, Any]:
    return _document("Server metadata (RFC 8414)", "Metadata")


def openapi_path(server: OAuthServer) -> dict[str, Any]:
    return _document("This document (OpenAPI 3.1)", "Document")


def openapi_document(issuer: str, paths: Mapping[str, Mapping[str, Any]], errors: Iterable[str] = ()) -> dict[str, Any]:
    """The document for ``paths`` (each endpoint's path item); ``errors`` are codes beyond RFC 6749 section 5.2's."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "asgi_oauth authorization server", "version": "1"},
        "servers": [{"url": issuer}],
        "paths": dict(paths),
        "components": _COMPONENTS,
    }
    document = copy.deepcopy(document)  # the module's constants are shared; callers get their own copy
    codes = document["components"]["schemas"]["Error"]["properties"]["error"]
    codes["enum"] = list(dict.fromkeys([*TOKEN_ERRORS, *errors]))
    return document
