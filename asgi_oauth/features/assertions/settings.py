"""The JWT assertion features' settings: environment variables ``ASGI_OAUTH_ASSERTION_*``, or keyword arguments."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings
from .issuers import TrustedIssuer
from .names import ASYMMETRIC, asymmetric_only, symmetric_only


class AssertionSettings(StrictSettings):
    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}ASSERTION_", extra="ignore", frozen=True)

    #: Algorithms an assertion may be signed with (comma-separated); asymmetric ones only, never ``none`` or HS*.
    algorithms: Annotated[tuple[str, ...], NoDecode] = ASYMMETRIC
    #: HMAC algorithms a ``client_secret_jwt`` client may sign with (for those clients only); empty: that method
    #: is off. HS256 only: a derived secret has 256 bits, what RFC 7518 section 3.2 asks of HS256, not of HS384.
    secret_algorithms: Annotated[tuple[str, ...], NoDecode] = ("HS256",)
    #: Seconds of clock difference allowed around ``exp``, ``nbf`` and ``iat``.
    leeway: float = Field(default=30, ge=0, le=300)
    #: The furthest ``exp`` may lie ahead (each ``jti`` is remembered until then): Authlib's clients sign for an hour.
    max_lifetime: float = Field(default=3600, gt=0, le=86400)
    #: Least seconds between two fetches of one ``jwks_uri`` for a ``kid`` it did not have (a rotation).
    jwks_min_refetch: float = Field(default=30, ge=1)
    #: Bounds on how long a fetched key set is kept, whatever its ``Cache-Control`` says.
    jwks_cache_least: float = Field(default=60, ge=0)
    jwks_cache_most: float = Field(default=86400, ge=1)
    #: Identity providers and workload platforms whose JWTs ``jwt_bearer`` accepts (JSON: a list of objects with
    #: ``issuer``, ``jwks`` or ``jwks_uri``, optionally ``algorithms``; a workload platform's also ``profile``
    #: ``"workload"``, its ``rules`` and optionally ``audience``: :class:`~.issuers.TrustedIssuer`).
    issuers: tuple[TrustedIssuer, ...] = ()
    #: Caps on fetching a ``jwks_uri``: seconds, and bytes of its body.
    jwks_fetch_timeout: float = Field(default=5, gt=0, le=30)
    jwks_max_bytes: int = Field(default=65536, ge=1024, le=1_048_576)

    @field_validator("algorithms", "secret_algorithms", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return asymmetric_only(value)

    @field_validator("secret_algorithms")
    @classmethod
    def _symmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return symmetric_only(value)
