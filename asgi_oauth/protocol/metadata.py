"""Authorization server metadata (RFC 8414), listing only what this server has switched on."""

from __future__ import annotations

from typing import Any

from ..settings import OAuthSettings


def metadata(settings: OAuthSettings, grant_types: list[str]) -> dict[str, Any]:
    base = settings.issuer
    response_types = ["code"] + (["token"] if settings.enable_implicit_grant else [])
    grants = list(grant_types) + (["implicit"] if settings.enable_implicit_grant else [])
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "response_types_supported": response_types,
        "response_modes_supported": ["query"] + (["fragment"] if settings.enable_implicit_grant else []),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "code_challenge_methods_supported": ["S256"] + (["plain"] if settings.allow_plain_pkce else []),
        "authorization_response_iss_parameter_supported": True,
    }
