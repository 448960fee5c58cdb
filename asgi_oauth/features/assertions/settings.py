"""The JWT assertion features' settings: environment variables ``ASGI_OAUTH_ASSERTION_*``, or keyword arguments."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings
from .issuers import TrustedIssuer
from .names import ASYMMETRIC, AsymmetricAlgorithms, DerivedAlgorithms


class AssertionSettings(StrictSettings):
    """The JWT assertion features' section, ``ASGI_OAUTH_ASSERTION_*``, shared by ``private_key_jwt`` and
    ``jwt_bearer``: accepted algorithms, clock leeway, trusted issuers and how their keys are fetched."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}ASSERTION_", extra="ignore", frozen=True)

    #: Algorithms an assertion may be signed with (comma-separated); asymmetric ones only, never ``none`` or HS*.
    algorithms: AsymmetricAlgorithms = ASYMMETRIC
    #: HMAC algorithms a ``client_secret_jwt`` client may sign with (for those clients only); empty: that method
    #: is off. HS256 only: a derived secret has 256 bits, what RFC 7518 section 3.2 asks of HS256, not of HS384.
    secret_algorithms: DerivedAlgorithms = ("HS256",)
    #: Seconds of clock difference allowed around ``exp``, ``nbf`` and ``iat``.
    leeway: float = Field(default=30, ge=0, le=300)
    #: The furthest ``exp`` may lie ahead (each ``jti`` is remembered until then): Authlib's clients sign for an hour.
    max_lifetime: float = Field(default=3600, gt=0, le=86400)
    #: Least seconds between two fetches of one ``jwks_uri`` for a ``kid`` it did not have (a rotation).
    jwks_min_refetch: float = Field(default=30, ge=1)
    #: Least seconds a fetched key set is kept, whatever its ``Cache-Control`` says.
    jwks_cache_least: float = Field(default=60, ge=0)
    #: Most seconds a fetched key set is kept, whatever its ``Cache-Control`` says.
    jwks_cache_most: float = Field(default=86400, ge=1)
    #: Identity providers and workload platforms whose JWTs ``jwt_bearer`` accepts (JSON: a list of objects with
    #: ``issuer``, ``jwks`` or ``jwks_uri``, optionally ``algorithms``; a workload platform's also ``profile``
    #: ``"workload"``, its ``rules`` and optionally ``audience``: :class:`~.issuers.TrustedIssuer`).
    issuers: tuple[TrustedIssuer, ...] = ()
    #: Seconds fetching a ``jwks_uri`` may take.
    jwks_fetch_timeout: float = Field(default=5, gt=0, le=30)
    #: Largest key set body read from a ``jwks_uri``, in bytes.
    jwks_max_bytes: int = Field(default=65536, ge=1024, le=1_048_576)
