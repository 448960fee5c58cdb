"""The device flow's settings section: environment variables ``ASGI_OAUTH_DEVICE_*``, or keyword arguments in code."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings


class DeviceSettings(StrictSettings):
    """The device flow's section, ``ASGI_OAUTH_DEVICE_*``: how long codes live and how often devices may poll."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}DEVICE_", extra="ignore", frozen=True)

    #: How long a device code and its user code work (RFC 8628 ``expires_in``).
    code_lifetime: float = Field(default=600, gt=0, le=1800)
    #: Seconds a device waits between polls (RFC 8628 ``interval``); each ``slow_down`` adds 5 for that device.
    poll_interval: int = Field(default=5, ge=1, le=60)
    #: The verification URI shown to users (a short one suits a TV); unset: the server's own ``<issuer>/device``.
    verification_uri: str | None = None

    @field_validator("verification_uri")
    @classmethod
    def _verification_uri_absolute(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise ValueError("must be an absolute http(s) URL without a fragment")
        return value
