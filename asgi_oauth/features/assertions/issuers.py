"""Who this server trusts to sign JWT bearer grants (RFC 7523 section 2.1), from settings or code: identity
providers signing ID-JAGs for users, and workload platforms (a Kubernetes cluster, SPIFFE, a CI system) whose own
tokens identify workloads, each allowed as one client by a :class:`TrustRule`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from ...clients import valid_scope_token
from .names import ASYMMETRIC, asymmetric_only, registered_keys

#: A claim named by a JSON Pointer (RFC 6901) into the claim set: ``/kubernetes.io/namespace``.
_POINTER = re.compile(r"(/([^~/]|~[01])+)+")


class TrustRule(BaseModel):
    """Which workloads of a platform may act as which client: every claim in ``claims`` must have exactly the
    value given (a name starting with ``/`` is a JSON Pointer into nested claims, else a top-level claim), and
    ``sub`` must be one of them, so a rule never admits every workload of an issuer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claims: dict[str, str]
    #: The registered client the workload acts as (it may be a public client registered for the grant only).
    client_id: str
    #: The most scope the workload may get (space-separated), within the client's.
    scope: str = ""

    @model_validator(mode="after")
    def _usable(self) -> TrustRule:
        if not self.claims.get("sub"):
            raise ValueError("a trust rule must pin sub: a rule matching every workload of an issuer is refused")
        pointers = [name for name in self.claims if name.startswith("/") and not _POINTER.fullmatch(name)]
        if pointers:
            raise ValueError(f"a trust rule's claim {pointers[0]!r} is no JSON Pointer (like /kubernetes.io/namespace)")
        if not self.client_id:
            raise ValueError("a trust rule must name the client_id the workload acts as")
        if not all(valid_scope_token(token) for token in self.scope.split()):
            raise ValueError(f"a trust rule's scope {self.scope!r} has characters RFC 6749 section 3.3 does not allow")
        return self

    def admits(self, claims: Mapping[str, Any], client_id: str) -> bool:
        """Whether verified ``claims`` presented by ``client_id`` are this rule's workload acting as its client."""
        return client_id == self.client_id and all(_claim(claims, name) == value for name, value in self.claims.items())


def _claim(claims: Mapping[str, Any], name: str) -> object:
    """The claim ``name`` names: top-level, or where its JSON Pointer leads (``None`` when nothing is there)."""
    if not name.startswith("/"):
        return claims.get(name)
    found: object = claims
    for step in name[1:].split("/"):
        if not isinstance(found, Mapping):
            return None
        found = found.get(step.replace("~1", "/").replace("~0", "~"))
    return found


class TrustedIssuer(BaseModel):
    """An identity provider or workload platform whose signed JWTs this server accepts as grants: its ``iss``, its
    public keys (a JWK Set, or the https URL of one) and the algorithms it signs with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ASYMMETRIC
    #: What its JWTs are: ID-JAGs (``typ`` oauth-id-jag+jwt, a ``client_id`` claim naming the client), or
    #: ``workload`` identity tokens, admitted by ``rules``.
    profile: Literal["id-jag", "workload"] = "id-jag"
    #: ``workload``: the ``aud`` its tokens must carry for this server (default: this server's issuer identifier).
    audience: str | None = None
    #: ``workload``: which workloads may act as which client; the first that admits a token decides.
    rules: tuple[TrustRule, ...] = ()

    @model_validator(mode="after")
    def _usable(self) -> TrustedIssuer:
        if not self.issuer:
            raise ValueError("issuer must name the identity provider's iss")
        registered_keys(jwks=self.jwks, jwks_uri=self.jwks_uri)  # KeySetError (a ValueError) says what is wrong
        asymmetric_only(self.algorithms)
        if self.profile == "workload" and not self.rules:
            raise ValueError("a workload issuer needs rules saying which workloads may act as which client")
        if self.audience == "":
            raise ValueError("audience must be the aud the workloads' tokens carry for this server")
        if self.profile != "workload" and (self.rules or self.audience is not None):
            raise ValueError("rules and audience belong to issuers of profile workload")
        return self

    @property
    def keys(self) -> Mapping[str, Any]:
        """Where its keys are, as :class:`~.keys.KeySets` reads a source."""
        return {"jwks": self.jwks} if self.jwks is not None else {"jwks_uri": self.jwks_uri}

    def rule_for(self, claims: Mapping[str, Any], client_id: str) -> TrustRule | None:
        """The first rule admitting verified ``claims`` presented by ``client_id``, if any."""
        return next((rule for rule in self.rules if rule.admits(claims, client_id)), None)
