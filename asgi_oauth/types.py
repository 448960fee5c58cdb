"""Literal names for every protocol enum, so typos fail type checking instead of at run time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

GrantType = Literal["authorization_code", "client_credentials", "refresh_token", "password", "implicit"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
TokenTypeHint = Literal["access_token", "refresh_token"]
CodeChallengeMethod = Literal["S256", "plain"]
ResponseType = Literal["code", "token"]

#: Seconds since the epoch; injected so tests and the memory store can control time.
Clock = Callable[[], float]

GRANT_TYPES: tuple[GrantType, ...] = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "password",
    "implicit",
)
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_basic", "client_secret_post", "none")
