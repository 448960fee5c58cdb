"""This server as an enterprise identity provider: a client exchanges a user's ID token (or its own access token for
the user) for an ID-JAG for another authorization server, through the real app on both stores. The ID-JAG is
checked as that authorization server checks it: verified with PyJWT against this server's published JWKS."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from asgi_oauth import OAuthServer, OIDCSettings, OpenIDConnect, SettingsError, Store, register_client
from asgi_oauth.crypto import b64url
from asgi_oauth.features.exchange import (
    ACCESS_TOKEN_TYPE,
    ID_JAG_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    ExchangeSettings,
    IdJagTarget,
    TokenExchange,
)

from ..dpop.proofs import part
from ..oidc.conftest import CALLBACK, ISSUER, MakeProvider, Provider
from ..oidc.conftest import make_provider as make_provider
from ..web.helpers import Registered, register, settings_for

PARTNER = "https://as.partner.example"
PARTNER_MCP = "https://mcp.partner.example/mcp"
TARGET = IdJagTarget(
    audience=PARTNER, clients={"agent": "partner-agent-7"}, scope="read tools", resources=(PARTNER_MCP,)
)


class Clock:
    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def agents() -> list[Registered]:
    grants = ["authorization_code", "refresh_token", TOKEN_EXCHANGE]
    scope = "openid profile read"
    return [
        register("agent", grant_types=grants, redirect_uris=[CALLBACK], scope=scope),
        register("stranger", grant_types=grants, redirect_uris=[CALLBACK], scope=scope),  # not named for PARTNER
    ]


async def identity_provider(
    make_provider: MakeProvider, store: Store, clock: Clock | None = None, *targets: IdJagTarget
) -> Provider:
    cast = agents()
    for agent in cast:
        await register_client(store, agent.client)
    exchange = TokenExchange(ExchangeSettings(id_jag_targets=targets))
    provider = await make_provider(oauth_options={"features": [exchange], "clock": clock or Clock()})
    provider.server.clients.update({agent.client_id: agent for agent in cast})
    return provider


async def ask(provider: Provider, subject: str, client: str = "agent", **params: str) -> httpx.Response:
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG_TOKEN_TYPE,
        "audience": PARTNER,
        "subject_token": subject,
        "subject_token_type": ID_TOKEN_TYPE,
    }
    return await provider.server.post("/oauth/token", {**form, **params}, client=client)


def refused(response: httpx.Response, error: str, words: str = "") -> None:
    assert response.status_code in (400, 401), response.text
    body = response.json()
    assert body["error"] == error and "access_token" not in body, body
    assert words in body.get("error_description", ""), body


async def test_an_id_token_is_exchanged_for_an_id_jag_the_partner_can_verify(
    make_provider: MakeProvider, store: Store
) -> None:
    provider = await identity_provider(make_provider, store, None, TARGET)
    signed_in = await provider.sign_in("agent", scope="openid profile read")
    answer = await ask(provider, signed_in["id_token"], scope="read", resource=PARTNER_MCP)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ID_JAG_TOKEN_TYPE and body["token_type"] == "N_A"  # RFC 8693 2.2.1
    assert "refresh_token" not in body and 0 < body["expires_in"] <= 300
    claims = await provider.verify(body["access_token"], audience=PARTNER, typ="oauth-id-jag+jwt")
    assert claims["iss"] == ISSUER and claims["sub"] == "u-alice" and claims["client_id"] == "partner-agent-7"
    assert claims["scope"] == "read" and claims["resource"] == PARTNER_MCP and claims["jti"]
    id_token = jwt.decode(signed_in["id_token"], options={"verify_signature": False})
    assert claims["exp"] <= id_token["exp"]  # never outlives what it was exchanged for
    # The client's own access token for the user serves as the subject too; no scope asked: the target's.
    by_access = await ask(provider, signed_in["access_token"], subject_token_type=ACCESS_TOKEN_TYPE)
    assert by_access.status_code == 200, by_access.text
    other = await provider.verify(by_access.json()["access_token"], audience=PARTNER, typ="oauth-id-jag+jwt")
    assert other["sub"] == "u-alice" and set(other["scope"].split()) == {"read", "tools"}
    assert "resource" not in other and other["jti"] != claims["jti"]


def forged(token: str, alg: str = "RS256") -> str:
    """``token`` signed anew under this server's ``kid``: with a key of the attacker's (RS256), with HMAC keyed by
    this server's public key (HS256: the algorithm confusion attack), or not at all (none)."""
    header = {**jwt.get_unverified_header(token), "alg": alg}
    claims = jwt.decode(token, options={"verify_signature": False})
    signing_input = f"{part(header)}.{part(claims)}"
    if alg == "none":
        return signing_input + "."
    if alg == "HS256":
        public = json.dumps(header).encode()  # whatever bytes: no HMAC key is ever accepted for our kid
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64url(signature)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm=alg, headers=header)


async def test_what_an_attacker_presents_is_refused(make_provider: MakeProvider, store: Store) -> None:
    clock = Clock()
    provider = await identity_provider(make_provider, store, clock, TARGET)
    agent = await provider.sign_in("agent", scope="openid profile read")
    strangers = await provider.sign_in("stranger", scope="openid profile read")
    jag = (await ask(provider, agent["id_token"])).json()["access_token"]
    cases: list[tuple[str, str, dict[str, str], str, str]] = [
        # another client's ID token: its aud is that client
        (agent["id_token"], "stranger", {}, "unauthorized_client", ""),
        (strangers["id_token"], "agent", {}, "invalid_request", "issued to this client"),
        # forged with a key of the attacker's under this server's kid, unsigned, or another kind of our JWTs
        (forged(agent["id_token"]), "agent", {}, "invalid_request", "not an ID token"),
        (forged(agent["id_token"], "HS256"), "agent", {}, "invalid_request", "not an ID token"),
        (forged(agent["id_token"], "none"), "agent", {}, "invalid_request", "not an ID token"),
        (jag, "agent", {}, "invalid_request", "typ"),
        ("not-a-jwt", "agent", {}, "invalid_request", "not an ID token"),
        # another client's access token, or none of this server's
        (strangers["access_token"], "agent", {"subject_token_type": ACCESS_TOKEN_TYPE}, "invalid_request", "client"),
        (agent["id_token"], "agent", {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
         "invalid_request", "subject_token of type"),
        # what the operator allows for the partner, and nothing else
        (agent["id_token"], "agent", {"audience": "https://as.elsewhere.example"}, "invalid_target", "no ID-JAGs"),
        (agent["id_token"], "agent", {"audience": "partner"}, "invalid_target", "absolute URI"),
        (agent["id_token"], "agent", {"scope": "read admin"}, "invalid_scope", ""),
        (agent["id_token"], "agent", {"resource": "https://mcp.elsewhere.example/mcp"}, "invalid_target", ""),
    ]  # fmt: skip
    for subject, client, params, error, words in cases:
        refused(await ask(provider, subject, client, **params), error, words)
    missing = await provider.server.post(
        "/oauth/token",
        {"grant_type": TOKEN_EXCHANGE, "requested_token_type": ID_JAG_TOKEN_TYPE, "subject_token": agent["id_token"],
         "subject_token_type": ID_TOKEN_TYPE},
        client="agent",
    )  # fmt: skip
    refused(missing, "invalid_request", "audience")
    clock.ahead = 3 * 3600  # the ID token has expired
    refused(await ask(provider, agent["id_token"]), "invalid_request", "expired")


async def test_id_jags_need_targets_and_openid_connect(make_provider: MakeProvider, store: Store) -> None:
    provider = await identity_provider(make_provider, store)
    signed_in = await provider.sign_in("agent", scope="openid profile read")
    refused(await ask(provider, signed_in["id_token"]), "invalid_request", "issues no ID-JAGs")
    exchange = TokenExchange(ExchangeSettings(id_jag_targets=(TARGET,)))
    with pytest.raises(SettingsError, match="switch on oidc too"):
        OAuthServer(settings_for(), store=store, features=[exchange])
    both = OAuthServer(settings_for(), store=store, features=[exchange, OpenIDConnect(OIDCSettings())])
    assert any(isinstance(feature, OpenIDConnect) for feature in both.features)  # listed before it: still found


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ({"audience": "partner", "clients": {"a": "b"}, "scope": "read"}, "absolute URI"),
        ({"audience": PARTNER, "clients": {}, "scope": "read"}, "clients"),
        ({"audience": PARTNER, "clients": {"a": "b"}, "scope": " "}, "scope"),
        ({"audience": PARTNER, "clients": {"a": "b"}, "scope": "read", "extra": 1}, "Extra inputs"),
    ],
)
def test_a_target_misconfigured_is_refused_at_start_up(
    target: dict[str, Any], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASGI_OAUTH_EXCHANGE_ID_JAG_TARGETS", json.dumps([target]))
    with pytest.raises(SettingsError, match="ASGI_OAUTH_EXCHANGE_ID_JAG_TARGETS") as raised:
        TokenExchange()
    assert words in str(raised.value)
