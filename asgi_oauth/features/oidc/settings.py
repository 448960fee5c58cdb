"""OpenID Connect's settings section. Its variables keep the names they had before OpenID Connect became a
feature (``ASGI_OAUTH_OIDC_SIGNING_KEYS``, ``ASGI_OAUTH_ID_TOKEN_LIFETIME``, ``ASGI_OAUTH_JWT_ACCESS_TOKEN_*``), so
the section reads the core's prefix; in code, ``OpenIDConnect(OIDCSettings(...))``."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings
from ...uris import canonical_resource


class OIDCSettings(StrictSettings):
    """OpenID Connect's section: signing keys, ID token lifetime and which access tokens are JWTs. Its variables
    keep their names from before features (``ASGI_OAUTH_OIDC_SIGNING_KEYS``...), so it reads the core's prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    #: Signing keys, newest first: PEM private keys (one after another) or private JWKs (one JSON object, or a
    #: JSON array of them). The first key of ``oidc_signing_alg``'s type signs; every key is
    #: published in the JWKS and verifies, so an old key kept after a new one keeps its tokens valid.
    #: Empty: a key is generated into the store (shared by every worker), for demos and tests.
    oidc_signing_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: The algorithm ID tokens and JWT access tokens are signed with (OIDC Core requires RS256 support).
    oidc_signing_alg: Literal["RS256", "ES256"] = "RS256"
    #: Seconds an ID token is valid (its ``exp``), at most a day.
    id_token_lifetime: float = Field(default=3600, gt=0, le=86400)
    #: Clients whose access tokens are JWTs (RFC 9068; ``*`` for every client), comma-separated.
    jwt_access_token_clients: Annotated[tuple[str, ...], NoDecode] = ()
    #: Resources (RFC 8707) whose access tokens are JWTs, comma-separated absolute URIs (canonical form).
    jwt_access_token_resources: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("oidc_signing_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """PEM blocks as they are (several may follow one another); JWKs comma- or newline-separated."""
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return ()
            if "-----BEGIN" in text:
                blocks = re.findall(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", text, flags=re.S)
                return tuple(blocks) if blocks else (text,)
            if text.startswith("["):
                return tuple(json.dumps(item) for item in json.loads(text))
            return (text,)
        return value

    @field_validator("jwt_access_token_clients", mode="before")
    @classmethod
    def _split_client_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("jwt_access_token_resources", mode="before")
    @classmethod
    def _split_jwt_resources(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("jwt_access_token_resources")
    @classmethod
    def _canonical_jwt_resources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(canonical_resource(uri) for uri in value)
        except ValueError:
            raise ValueError("each must be an absolute URI without a fragment (RFC 8707)") from None
