"""Identity providers this server trusts to sign assertion grants (RFC 7523 section 2.1): settings or code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from .names import ASYMMETRIC, asymmetric_only, registered_keys


class TrustedIssuer(BaseModel):
    """An identity provider whose identity assertion grants this server accepts: its ``iss``, its public keys
    (a JWK Set, or the https URL of one) and the algorithms it signs with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ASYMMETRIC
    #: What its assertions are: ID-JAGs (``typ`` oauth-id-jag+jwt, a ``client_id`` claim naming the client).
    profile: Literal["id-jag"] = "id-jag"

    @model_validator(mode="after")
    def _usable(self) -> TrustedIssuer:
        if not self.issuer:
            raise ValueError("issuer must name the identity provider's iss")
        registered_keys(jwks=self.jwks, jwks_uri=self.jwks_uri)  # KeySetError (a ValueError) says what is wrong
        asymmetric_only(self.algorithms)
        return self

    @property
    def keys(self) -> Mapping[str, Any]:
        """Where its keys are, as :class:`~.keys.KeySets` reads a source."""
        return {"jwks": self.jwks} if self.jwks is not None else {"jwks_uri": self.jwks_uri}
