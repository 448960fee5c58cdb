"""Authorization server metadata (RFC 8414), listing only what this server has switched on.

Nothing here is hand-listed: each endpoint contributes its own keys (its URL, its auth methods, ...),
and the grant and response type registries give the supported types and response modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..settings import OAuthSettings
from .authorize import ResponseTypeSpec


def metadata(
    issuer: str,
    *,
    urls: Mapping[str, str],
    endpoints: Iterable[Mapping[str, Any]],
    grant_types: Iterable[str],
    response_types: Iterable[ResponseTypeSpec],
) -> dict[str, Any]:
    """The RFC 8414 document: ``issuer``, the endpoints' ``urls``, the enabled grant and response types,
    then the other keys each endpoint adds (``endpoints``, e.g. its client authentication methods).

    ``grant_types_supported`` lists the token endpoint's grants and then the grants that answer at the
    authorization endpoint only (``implicit``).
    """
    response_types = list(response_types)
    grants = list(grant_types)
    grants += [g for g in dict.fromkeys(r.grant_type for r in response_types) if g not in grants]
    document: dict[str, Any] = {"issuer": issuer, **urls}
    document["response_types_supported"] = [r.name for r in response_types]
    document["response_modes_supported"] = list(dict.fromkeys(r.response_mode for r in response_types))
    document["grant_types_supported"] = grants
    for keys in endpoints:
        document.update(keys)
    return document


# What each built-in endpoint adds besides its URL. Public clients may revoke their own tokens but not
# introspect, so "none" is offered at the token and revocation endpoints only.
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def authorization_endpoint(settings: OAuthSettings) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "code_challenge_methods_supported": ["S256"] + (["plain"] if settings.allow_plain_pkce else []),
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
    }
    if settings.enable_client_id_metadata_documents:
        keys["client_id_metadata_document_supported"] = True  # https client ids name their documents
    return keys


def token_endpoint(settings: OAuthSettings) -> dict[str, Any]:
    return {"token_endpoint_auth_methods_supported": [*_SECRET_METHODS, "none"]}


def introspection_endpoint(settings: OAuthSettings) -> dict[str, Any]:
    return {"introspection_endpoint_auth_methods_supported": list(_SECRET_METHODS)}


def revocation_endpoint(settings: OAuthSettings) -> dict[str, Any]:
    return {"revocation_endpoint_auth_methods_supported": [*_SECRET_METHODS, "none"]}
