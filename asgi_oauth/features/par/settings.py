"""PAR's settings section: environment variables ``ASGI_OAUTH_PAR_*``, or keyword arguments in code."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings


class ParSettings(StrictSettings):
    """PAR's section, ``ASGI_OAUTH_PAR_*``: how long a pushed request lives, whether pushing is required and how
    often a client may push."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}PAR_", extra="ignore", frozen=True)

    #: Seconds a ``request_uri`` may be used (RFC 9126 section 2.2 suggests 5 to 600).
    request_uri_lifetime: float = Field(default=60, gt=0, le=600)
    #: Every client must push its authorization requests (metadata ``require_pushed_authorization_requests``);
    #: otherwise only clients whose ``extra["par"]["require"]`` is set must.
    required: bool = False
    #: Pushed requests one client may make per minute; more are refused with 429, other clients unaffected.
    pushes_per_minute: int = Field(default=120, gt=0)
