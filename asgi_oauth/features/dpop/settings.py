"""DPoP's settings: environment variables ``ASGI_OAUTH_DPOP_*``, or keyword arguments."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ...algorithms import ASYMMETRIC
from ...settings import ENV_PREFIX, StrictSettings
from ..assertions.names import AsymmetricAlgorithms


class DPoPSettings(StrictSettings):
    """DPoP's section, ``ASGI_OAUTH_DPOP_*``: accepted algorithms, how fresh a proof must be, server nonces."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}DPOP_", extra="ignore", frozen=True)

    #: Algorithms a proof may be signed with (comma-separated); asymmetric ones only, never ``none`` or HS*.
    algorithms: AsymmetricAlgorithms = ASYMMETRIC
    #: How old a proof's ``iat`` may be, in seconds: a proof is made for one request, at once.
    proof_lifetime: float = Field(default=60, gt=0, le=600)
    #: Seconds a proof's ``iat`` may lie ahead (clock difference).
    leeway: float = Field(default=5, ge=0, le=60)
    #: Whether the token endpoint requires a server nonce in each proof (RFC 9449 section 8).
    nonces: bool = False
    #: Seconds a server nonce is current; the previous one is accepted too, so one lives up to twice this.
    nonce_period: float = Field(default=300, ge=10, le=3600)
