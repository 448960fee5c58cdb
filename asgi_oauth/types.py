"""Literal names for the closed protocol enums, so typos fail type checking instead of at run time.

Grant and response types are open sets: a server takes extension grants (RFC 6749 section 4.5) and response
types through its registries, so they are plain strings; the built-in names are listed for reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

#: A grant type name: one of :data:`GRANT_TYPES` or an extension grant the server was given.
GrantType = str
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_jwt"]
TokenTypeHint = Literal["access_token", "refresh_token"]
CodeChallengeMethod = Literal["S256", "plain"]
#: A response type name (RFC 6749 section 3.1.1): ``code``, ``token`` or one the server was given.
ResponseType = str

#: Seconds since the epoch; injected so tests and the memory store can control time.
Clock = Callable[[], float]

#: The grant types built in, in the order clients list them.
GRANT_TYPES: tuple[GrantType, ...] = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628
    "urn:ietf:params:oauth:grant-type:jwt-bearer",  # RFC 7523, the jwt_bearer feature
    "urn:ietf:params:oauth:grant-type:token-exchange",  # RFC 8693, the token_exchange feature
)
#: ``private_key_jwt`` is proved by the feature of that name (:mod:`asgi_oauth.features.assertions`): no secret;
#: ``client_secret_jwt`` by the same feature, with a secret derived from ``secret_key``, never stored.
AUTH_METHODS: tuple[AuthMethod, ...] = (
    "client_secret_basic",
    "client_secret_post",
    "none",
    "private_key_jwt",
    "client_secret_jwt",
)
