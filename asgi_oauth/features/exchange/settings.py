"""Token exchange's settings: environment variables ``ASGI_OAUTH_EXCHANGE_*``, or keyword arguments."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ...settings import ENV_PREFIX, StrictSettings
from ...uris import canonical_resource


class IdJagTarget(BaseModel):
    """An authorization server this one issues ID-JAGs for (acting as the enterprise identity provider): its
    issuer identifier (the ID-JAG's ``aud``), what each client here is called there (``client_id``), the most
    scope an ID-JAG may carry for it and the resources it may name (none: any absolute URI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audience: str
    clients: dict[str, str]
    scope: str
    resources: tuple[str, ...] = ()

    @field_validator("audience")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return canonical_resource(value)

    @field_validator("resources")
    @classmethod
    def _canonical(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(canonical_resource(resource) for resource in value)

    @model_validator(mode="after")
    def _usable(self) -> IdJagTarget:
        if not self.clients or not all(self.clients.values()):
            raise ValueError(f"{self.audience}: name each client here and its client_id there in clients")
        if not self.scope.split():
            raise ValueError(f"{self.audience}: name the scopes an ID-JAG for it may carry in scope")
        return self


class ExchangeSettings(StrictSettings):
    """Token exchange's section, ``ASGI_OAUTH_EXCHANGE_*``: which authorization servers this one issues ID-JAGs
    for, and how long those live."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}EXCHANGE_", extra="ignore", frozen=True)

    #: Authorization servers this server issues ID-JAGs for (JSON: a list of objects with ``audience``,
    #: ``clients``, ``scope`` and optionally ``resources``); none: no ID-JAG is issued. Needs OpenID Connect on.
    id_jag_targets: tuple[IdJagTarget, ...] = ()
    #: Seconds an ID-JAG lives, at most (never past the token it was exchanged for): it is used once, at once.
    id_jag_lifetime: int = Field(default=300, ge=10, le=3600)

    @model_validator(mode="after")
    def _one_each(self) -> ExchangeSettings:
        audiences = [target.audience for target in self.id_jag_targets]
        twice = sorted({audience for audience in audiences if audiences.count(audience) > 1})
        if twice:
            raise ValueError(f"id_jag_targets: {', '.join(twice)} named twice")
        return self

    def target(self, audience: str) -> IdJagTarget | None:
        return next((target for target in self.id_jag_targets if target.audience == audience), None)
