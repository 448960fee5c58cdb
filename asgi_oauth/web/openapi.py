"""An OpenAPI 3.1 description of the endpoints, served at ``<mount>/openapi.json`` for tools and fuzzers.

Built from the RFC 8414 metadata, so closed sets (grant types, response types, PKCE methods) list exactly
what this server has switched on. Paths are relative to the issuer, which is where the sub-app is mounted.
"""

from __future__ import annotations

import copy
from typing import Any

# RFC 6749 section 3.3 (scope-token), RFC 7636 section 4.1 (code_verifier / code_challenge) and the
# RFC 6749 section 5.2 character set of error_description.
SCOPE = r"^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$"
PKCE = r"^[A-Za-z0-9._~-]{43,128}$"
DESCRIPTION = r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$"
# RFC 6749 sections 5.2 and 4.1.2.1; temporarily_unavailable also answers 429 and 503.
TOKEN_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
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
                "token_type": {"type": "string", "enum": ["Bearer"]},
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
                "token_type": {"type": "string", "enum": ["Bearer", "refresh_token"]},
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
            "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope; "
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


def _token(metadata: dict[str, Any]) -> dict[str, Any]:
    grants = [g for g in metadata["grant_types_supported"] if g != "implicit"]
    fields = {
        "grant_type": _string("RFC 6749 section 4", enum=grants),
        "code": _string("authorization_code: single use"),
        "redirect_uri": _string("authorization_code: as sent to /authorize"),
        "code_verifier": _string("authorization_code: RFC 7636", pattern=PKCE),
        "refresh_token": _string("refresh_token: rotated on every use"),
        "scope": _string("client_credentials, password, refresh_token: a subset", pattern=SCOPE),
    }
    if "password" in grants:
        fields |= {"username": _string("password grant"), "password": _string("password grant", format="password")}
    return {
        "summary": "Token endpoint (RFC 6749 section 3.2)",
        "security": [{"client_secret_basic": []}, {}],
        "requestBody": _form({**fields, **_CLIENT_AUTH}, ["grant_type"]),
        "responses": {"200": _json("tokens issued", "Token", _NO_STORE), **_FORM_ERRORS},
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


def openapi_document(metadata: dict[str, Any]) -> dict[str, Any]:
    """Describe what this server has enabled; ``metadata`` is its RFC 8414 document."""
    introspection = _json("the token's state; inactive for anything unknown or not the caller's", "Introspection")
    revoked = {"description": "revoked, or nothing to revoke (RFC 7009 section 2.2); empty body"}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "asgi_oauth authorization server", "version": "1"},
        "servers": [{"url": metadata["issuer"]}],
        "paths": {
            "/authorize": {"get": _authorize(metadata, "get"), "post": _authorize(metadata, "post")},
            "/token": {"post": _token(metadata)},
            "/introspect": {"post": _token_operation("Token introspection (RFC 7662)", introspection, scope=True)},
            "/revoke": {"post": _token_operation("Token revocation (RFC 7009)", revoked, scope=False)},
            "/.well-known/oauth-authorization-server": _document("Server metadata (RFC 8414)", "Metadata"),
            "/openapi.json": _document("This document (OpenAPI 3.1)", "Document"),
        },
        "components": _COMPONENTS,
    }
    return copy.deepcopy(document)  # the module's constants are shared; callers get their own copy
