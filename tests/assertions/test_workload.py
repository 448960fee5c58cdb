"""The JWT bearer grant's workload identity profile through the real app on both stores: a Kubernetes projected
service-account token and a SPIFFE JWT-SVID become access tokens for the client a trust rule names, and every
refusal an attacker meets is RFC-shaped, never a 5xx, with no token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from asgi_oauth import Store, new_client
from asgi_oauth.features.assertions import (
    JWT_BEARER,
    AssertionSettings,
    JWTBearerGrant,
    TrustedIssuer,
    TrustedIssuerStore,
    TrustRule,
)
from asgi_oauth.settings import SettingsError, load_section

from ..web.conftest import MakeServer
from ..web.helpers import TOKEN, Registered, Server, default_clients
from .signing import AUDIENCE, Signer, id_jag, unsigned
from .test_jwt_bearer import IDP, SIGNER, refused

CLUSTER = "https://container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod"
CLUSTER_AUDIENCE = "asgi-oauth"
SPIRE = "https://spire.example.org"
BILLING = "system:serviceaccount:prod:billing"
SVID = "spiffe://example.org/billing"
RESOURCE = "https://api.example.com/billing"
KUBE = Signer.new("RS256", kid="cluster-1")
SPIFFE = Signer.new("ES256", kid="spire-1")


def kubernetes() -> TrustedIssuer:
    namespaced = TrustRule(
        claims={"sub": BILLING, "/kubernetes.io/namespace": "prod"}, client_id="billing", scope="read write"
    )
    reports = TrustRule(claims={"sub": "system:serviceaccount:prod:reports"}, client_id="reports", scope="read")
    return TrustedIssuer(
        profile="workload",
        issuer=CLUSTER,
        jwks=KUBE.jwks(),
        algorithms=("RS256",),
        audience=CLUSTER_AUDIENCE,
        rules=(namespaced, reports),
    )


def spire() -> TrustedIssuer:
    rule = TrustRule(claims={"sub": SVID}, client_id="billing", scope="read")
    return TrustedIssuer(profile="workload", issuer=SPIRE, jwks=SPIFFE.jwks(), rules=(rule,))


def cast() -> list[Registered]:
    def client(client_id: str, **options: Any) -> Registered:
        made, secret = new_client(
            client_id=client_id, name=client_id, grant_types=[JWT_BEARER], scope="read write admin", **options
        )
        return Registered(made, secret)

    return [*default_clients(), client("billing", public=True), client("reports"), client("public-agent", public=True)]


async def with_grant(make_server: MakeServer, **settings: Any) -> Server:
    idp = TrustedIssuer(issuer=IDP, jwks=SIGNER.jwks())
    feature = JWTBearerGrant(issuers=[kubernetes(), spire(), idp])
    return await make_server(stored=cast(), oauth_options={"features": [feature]}, **settings)


def projected(
    namespace: str = "prod", account: str = "billing", audience: str | list[str] = CLUSTER_AUDIENCE, **claims: Any
) -> str:
    """A projected service-account token as the kubelet mounts it: no typ, a list aud, nbf, kubernetes.io."""
    now = int(time.time())
    pod = {"name": f"{account}-7d9f8-x2x4q", "uid": str(uuid.uuid4())}
    body: dict[str, Any] = {
        "sub": f"system:serviceaccount:{namespace}:{account}",
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": "gke-prod-pool-1", "uid": str(uuid.uuid4())},
            "pod": pod,
            "serviceaccount": {"name": account, "uid": str(uuid.uuid4())},
        },
    }
    return KUBE.assertion(CLUSTER, audience=[audience] if isinstance(audience, str) else audience, **body | claims)


def svid(**claims: Any) -> str:
    """A SPIFFE JWT-SVID as SPIRE signs it: sub the SPIFFE ID, aud, exp, iat, no jti."""
    return SPIFFE.assertion(SPIRE, **{"sub": SVID, "jti": None, "exp": int(time.time()) + 300, **claims})


async def grant(server: Server, assertion: str, client: str = "billing", **params: str) -> httpx.Response:
    return await server.post(TOKEN, {"grant_type": JWT_BEARER, "assertion": assertion, **params}, client=client)


def hs256_with_public_key(signer: Signer, claims: dict[str, Any]) -> str:
    """The key-confusion attack: HS256 keyed with the issuer's public key as PEM, which anyone can fetch."""
    public = signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signed = f"{part(json.dumps({'alg': 'HS256', 'kid': signer.kid}).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signed}.{part(hmac.new(public, signed.encode(), hashlib.sha256).digest())}"


async def test_a_kubernetes_service_account_token_becomes_an_access_token_again_and_again(
    make_server: MakeServer,
) -> None:
    server = await with_grant(make_server)
    token = projected()
    answers = [await grant(server, token, scope="read", resource=RESOURCE) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200], answers[-1].text  # not single use
    body = answers[0].json()
    assert body["scope"] == "read" and "refresh_token" not in body
    seen = await server.introspect(body["access_token"])
    assert seen["active"] and seen["sub"] == BILLING and seen["client_id"] == "billing" and seen["aud"] == RESOURCE
    # Without a scope parameter: the rule's scope within the client's ("admin" is the client's only).
    assert (await grant(server, token)).json()["scope"] == "read write"


async def test_a_spiffe_jwt_svid_without_jti_is_accepted_for_this_servers_issuer(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    token = svid()
    assert "jti" not in json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    for _ in range(2):
        answer = await grant(server, token)
        assert answer.status_code == 200 and answer.json()["scope"] == "read", answer.text
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["sub"] == SVID and seen["client_id"] == "billing"


async def test_the_access_token_expires_no_later_than_the_workload_token(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    exp = int(time.time()) + 90
    answer = await grant(server, projected(exp=exp))
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] <= 90
    assert (await server.introspect(answer.json()["access_token"]))["exp"] <= exp


async def test_a_confidential_client_named_by_a_rule_authenticates_as_usual(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    answer = await grant(server, projected(account="reports"), client="reports")
    assert answer.status_code == 200 and answer.json()["scope"] == "read", answer.text
    unauthenticated = await server.http.post(
        TOKEN, data={"grant_type": JWT_BEARER, "assertion": projected(account="reports"), "client_id": "reports"}
    )
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"


async def test_forged_foreign_and_misdirected_workload_tokens_are_refused(make_server: MakeServer) -> None:
    server = await with_grant(make_server, resources=(RESOURCE,))
    now = int(time.time())
    claims = {
        "iss": CLUSTER,
        "sub": BILLING,
        "aud": CLUSTER_AUDIENCE,
        "exp": now + 60,
        "kubernetes.io": {"namespace": "prod"},
    }
    stranger = Signer.new("RS256", kid="cluster-1")  # the attacker's key under the cluster's kid
    forged = stranger.assertion(CLUSTER, audience=CLUSTER_AUDIENCE, sub=BILLING)
    cases: list[tuple[str, str, dict[str, str], str, str]] = [
        (Signer.new("RS256").assertion("https://evil.example", sub=BILLING), "billing", {}, "invalid_grant", "trusts"),
        (forged, "billing", {}, "invalid_grant", "signature"),
        (projected(audience=AUDIENCE), "billing", {}, "invalid_grant", "aud"),  # its default is not this one's
        (svid(audience=CLUSTER_AUDIENCE), "billing", {}, "invalid_grant", "aud"),
        (projected(account="intruder"), "billing", {}, "invalid_grant", "no trust rule"),
        (projected(namespace="dev", sub=BILLING), "billing", {}, "invalid_grant", "no trust rule"),  # nested claim
        (projected(), "reports", {}, "invalid_grant", "no trust rule"),  # billing's token, reports' client
        (projected(account="reports"), "public-agent", {}, "invalid_grant", "no trust rule"),
        (unsigned(claims, {"alg": "none"}), "billing", {}, "invalid_grant", "alg"),
        (hs256_with_public_key(KUBE, claims), "billing", {}, "invalid_grant", "alg"),
        (projected(exp=now - 120, iat=now - 720, nbf=now - 720), "billing", {}, "invalid_grant", "expired"),
        (projected(nbf=now + 600, exp=now + 900), "billing", {}, "invalid_grant", "future"),
        (projected(iat=now + 600, exp=now + 900), "billing", {}, "invalid_grant", "future"),
        (projected(exp=now + 7200), "billing", {}, "invalid_grant", "3600 seconds ahead"),
        (projected(exp=None), "billing", {}, "invalid_grant", "no exp"),
        (KUBE.assertion(CLUSTER, audience=CLUSTER_AUDIENCE, typ="oauth-id-jag+jwt", sub=BILLING), "billing", {},
         "invalid_grant", "ID-JAG"),
        (projected(), "billing", {"scope": "read admin"}, "invalid_scope", "admin"),
        (projected(), "billing", {"resource": "https://elsewhere.example.com/"}, "invalid_target", ""),
        (id_jag(SIGNER, IDP, client_id="public-agent"), "public-agent", {}, "unauthorized_client", "confidential"),
        (id_jag(SIGNER, IDP, client_id="billing"), "billing", {}, "unauthorized_client", "confidential"),
    ]  # fmt: skip
    for assertion, client, params, error, words in cases:
        refused(await grant(server, assertion, client, **params), error, words)


def test_workload_issuers_come_from_the_environment_and_bad_rules_stop_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = {"claims": {"sub": BILLING, "/kubernetes.io/namespace": "prod"}, "client_id": "billing", "scope": "read"}
    issuer = {"profile": "workload", "issuer": CLUSTER, "jwks": KUBE.jwks(), "audience": "asgi-oauth", "rules": [rule]}
    monkeypatch.setenv("ASGI_OAUTH_ASSERTION_ISSUERS", json.dumps([issuer]))
    (loaded,) = load_section(AssertionSettings).issuers
    assert loaded.rules == (TrustRule.model_validate(rule),) and loaded.audience == "asgi-oauth"
    without_sub = {**rule, "claims": {"/kubernetes.io/namespace": "prod"}}
    for bad, words in (
        ({**issuer, "rules": [without_sub]}, "must pin sub"),
        ({**issuer, "rules": [{**rule, "claims": {"sub": ""}}]}, "must pin sub"),
        ({**issuer, "rules": []}, "needs rules"),
        ({**issuer, "profile": "saml"}, "'id-jag' or 'workload'"),
        ({**issuer, "profile": "id-jag"}, "belong to issuers of profile workload"),
        ({**issuer, "rules": [{**rule, "claims": {"sub": BILLING, "/a/~2": "x"}}]}, "JSON Pointer"),
        ({**issuer, "rules": [{**rule, "scope": 'read "all"'}]}, "scope"),
        ({**issuer, "rules": [{**rule, "subject": "x"}]}, "Extra inputs"),
    ):
        monkeypatch.setenv("ASGI_OAUTH_ASSERTION_ISSUERS", json.dumps([bad]))
        with pytest.raises(SettingsError, match="ASGI_OAUTH_ASSERTION_ISSUERS") as raised:
            load_section(AssertionSettings)
        assert words in str(raised.value)
    with pytest.raises(ValidationError, match="must pin sub"):
        TrustRule(claims={}, client_id="billing")


async def test_a_workload_issuer_round_trips_through_the_store_and_is_trusted_from_it(
    make_server: MakeServer, store: Store
) -> None:
    server = await make_server(stored=cast(), oauth_options={"features": [JWTBearerGrant(issuers=[])]})
    kept = JWTBearerGrant(issuers=[]).issuer_store(store)
    assert isinstance(kept, TrustedIssuerStore)
    refused(await grant(server, projected()), words="not one this server trusts")
    await kept.put_issuer(kubernetes())
    assert await kept.get_issuer(CLUSTER) == kubernetes() and await kept.list_issuers() == [kubernetes()]
    assert (await grant(server, projected())).status_code == 200
    refused(await grant(server, projected(), "reports"), words="no trust rule")
