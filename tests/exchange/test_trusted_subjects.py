"""Token exchange of JWTs of other issuers (RFC 8693 ``subject_token_type`` jwt) through the real app on both
stores: an enterprise identity provider's ID-JAG, and a workload platform's token (as workload identity
federation services take it by token exchange), each checked exactly as the ``jwt_bearer`` grant checks it, and
refused as RFC 8693 section 2.2.2 says (``invalid_request``); a workload's token as the ``actor_token``, naming who
acts."""

from __future__ import annotations

from typing import Any

import httpx

from asgi_oauth import new_client
from asgi_oauth.features.assertions import JWTBearerGrant, TrustedIssuer, TrustRule
from asgi_oauth.features.exchange import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE, TokenExchange, may_exchange

from ..assertions.signing import Signer, id_jag
from ..web.conftest import MakeServer
from ..web.helpers import ISSUER, TOKEN, Registered, Server, default_clients

IDP = "https://idp.example.com"
IDP_KEY = Signer.new("ES256", kid="idp-1")
CLUSTER = "https://oidc.prod.example.com"
CLUSTER_KEY = Signer.new("RS256", kid="cluster-1")
BILLING = "system:serviceaccount:prod:billing"
API = "https://api.example.com"


def cast() -> list[Registered]:
    def client(client_id: str, **options: Any) -> Registered:
        made, secret = new_client(
            client_id=client_id, name=client_id, grant_types=[TOKEN_EXCHANGE], scope="read write", **options
        )
        return Registered(made, secret)

    return [*default_clients(), client("agent"), client("billing", public=True), client("other", public=True)]


def issuers() -> list[TrustedIssuer]:
    rule = TrustRule(claims={"sub": BILLING}, client_id="billing", scope="read")
    workload = TrustedIssuer(profile="workload", issuer=CLUSTER, jwks=CLUSTER_KEY.jwks(), rules=(rule,))
    return [TrustedIssuer(issuer=IDP, jwks=IDP_KEY.jwks()), workload]


async def exchanging(make_server: MakeServer, *, bearer: bool = True) -> Server:
    features = [JWTBearerGrant(issuers=issuers()), TokenExchange()] if bearer else [TokenExchange()]
    return await make_server(stored=cast(), oauth_options={"features": features})


async def exchange(server: Server, subject: str, client: str, **params: str) -> httpx.Response:
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject, "subject_token_type": JWT_TOKEN_TYPE}
    return await server.post(TOKEN, {**form, **params}, client=client)  # a public client by its client_id alone


def refused(response: httpx.Response, error: str, words: str = "") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error and "access_token" not in body, body
    assert words in body.get("error_description", ""), body


def platform_token(**claims: Any) -> str:
    return CLUSTER_KEY.assertion(CLUSTER, audience=[ISSUER], **{"sub": BILLING, "jti": None, **claims})


async def test_an_id_jag_of_a_trusted_provider_is_exchanged_for_an_access_token(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    assertion = id_jag(IDP_KEY, IDP, client_id="agent", audience=ISSUER, scope="read")
    answer = await exchange(server, assertion, "agent", resource=API)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["scope"] == "read"
    seen = await server.introspect(body["access_token"])
    assert seen["active"] and seen["sub"] == "alice" and seen["client_id"] == "agent" and seen["aud"] == API
    refused(await exchange(server, assertion, "agent"), "invalid_request", "used before")  # one use, as the grant


async def test_a_workloads_platform_token_is_exchanged_by_its_public_client(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    token = platform_token()
    for _ in range(2):  # a platform token is reused until rotated, as at the grant
        answer = await exchange(server, token, "billing")
        assert answer.status_code == 200, answer.text
        assert answer.json()["issued_token_type"] == ACCESS_TOKEN_TYPE and answer.json()["scope"] == "read"
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["sub"] == BILLING and seen["client_id"] == "billing"


async def test_what_an_attacker_exchanges_is_refused(make_server: MakeServer) -> None:
    server = await exchanging(make_server)
    stranger = Signer.new("ES256", kid="idp-1")  # the provider's kid, the attacker's key
    cases: list[tuple[str, str, dict[str, str], str, str]] = [
        (platform_token(), "other", {}, "invalid_request", "no trust rule"),  # another workload's client
        (platform_token(sub="system:serviceaccount:prod:admin"), "billing", {}, "invalid_request", "no trust rule"),
        (platform_token(), "billing", {"scope": "write"}, "invalid_scope", ""),
        (id_jag(stranger, IDP, client_id="agent", audience=ISSUER), "agent", {}, "invalid_request", ""),
        (id_jag(IDP_KEY, IDP, client_id="other-agent", audience=ISSUER), "agent", {}, "invalid_request", "client"),
        (id_jag(IDP_KEY, "https://evil.example", client_id="agent", audience=ISSUER), "agent", {}, "invalid_request",
         "trusts"),
        (id_jag(IDP_KEY, IDP, client_id="agent", audience=ISSUER), "agent",
         {"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request", "actor_token"),
        (id_jag(IDP_KEY, IDP, client_id="agent", audience=ISSUER), "agent",
         {"requested_token_type": "urn:ietf:params:oauth:token-type:id-jag"}, "invalid_request", "requested"),
        (id_jag(IDP_KEY, IDP, client_id="agent", audience=ISSUER), "agent", {"audience": "billing"},
         "invalid_target", "absolute URI"),
        ("not-a-jwt", "agent", {}, "invalid_request", ""),
    ]  # fmt: skip
    for subject, client, params, error, words in cases:
        refused(await exchange(server, subject, client, **params), error, words)
    # Public clients still exchange nothing of this server's: only a workload's own token makes them a client.
    refused(await exchange(server, platform_token(), "billing", subject_token_type=ACCESS_TOKEN_TYPE),
            "unauthorized_client")  # fmt: skip


async def test_without_the_jwt_bearer_feature_a_jwt_subject_is_refused(make_server: MakeServer) -> None:
    server = await exchanging(make_server, bearer=False)
    assertion = id_jag(IDP_KEY, IDP, client_id="agent", audience=ISSUER)
    refused(await exchange(server, assertion, "agent"), "invalid_request", "jwt_bearer")


async def test_a_workloads_platform_token_names_the_actor(make_server: MakeServer) -> None:
    """An MCP server running as a workload exchanges a user's token, presenting its platform token as the actor."""
    rule = TrustRule(claims={"sub": "system:serviceaccount:prod:mcp"}, client_id="mcp", scope="read")
    workload = TrustedIssuer(profile="workload", issuer=CLUSTER, jwks=CLUSTER_KEY.jwks(), rules=(rule,))
    mcp, secret = new_client(
        client_id="mcp", name="mcp", grant_types=[TOKEN_EXCHANGE, "password"], scope="read write",
        extra=may_exchange([API]),
    )  # fmt: skip
    features = [JWTBearerGrant(issuers=[workload]), TokenExchange()]
    clients = [*default_clients(), Registered(mcp, secret)]
    server = await make_server(stored=clients, oauth_options={"features": features}, enable_password_grant=True)
    user = await server.password_tokens(scope="read", resource=API)
    own = platform_token(sub="system:serviceaccount:prod:mcp")
    form = {"subject_token": user["access_token"], "subject_token_type": ACCESS_TOKEN_TYPE, "actor_token": own,
            "actor_token_type": JWT_TOKEN_TYPE, "resource": "https://downstream.example.com"}  # fmt: skip
    answer = await server.token("mcp", grant_type=TOKEN_EXCHANGE, **form)
    assert answer.status_code == 200, answer.text
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["sub"] == "u-alice" and seen["act"] == {
        "sub": "system:serviceaccount:prod:mcp", "iss": CLUSTER, "client_id": "mcp"
    }  # fmt: skip
    # Another workload's platform token (no rule admits it as this client) is no actor of this client.
    stranger = platform_token(sub="system:serviceaccount:prod:other")
    refused(await server.token("mcp", grant_type=TOKEN_EXCHANGE, **{**form, "actor_token": stranger}),
            "invalid_request", "no trust rule")  # fmt: skip
