"""The JWT bearer grant with identity assertions (ID-JAG) through the real app on both stores: what is issued for
whom, and every refusal an attacker meets (each RFC-shaped, never a 5xx, no token)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from asgi_oauth import Store, new_client
from asgi_oauth.features.assertions import (
    JWT_BEARER,
    AssertionSettings,
    JWTBearerGrant,
    TrustedIssuer,
    TrustedIssuerStore,
)
from asgi_oauth.settings import SettingsError, load_section

from ..web.conftest import MakeServer
from ..web.helpers import METADATA, TOKEN, Registered, Server, basic, default_clients
from .signing import AUDIENCE, Signer, id_jag, unsigned

IDP = "https://idp.example.com"
RESOURCE = "https://mcp.example.com/mcp"
SIGNER = Signer.new("ES256", kid="idp-1")


def agent(client_id: str = "agent", **options: Any) -> Registered:
    options.setdefault("grant_types", [JWT_BEARER])
    client, secret = new_client(client_id=client_id, name=client_id, scope="mcp admin read", **options)
    return Registered(client, secret)


def cast() -> list[Registered]:
    return [*default_clients(), agent(), agent("public-agent", public=True)]


async def with_grant(make_server: MakeServer, stored: list[Registered] | None = None, **settings: Any) -> Server:
    feature = JWTBearerGrant(issuers=[TrustedIssuer(issuer=IDP, jwks=SIGNER.jwks())])
    return await make_server(stored=stored or cast(), oauth_options={"features": [feature]}, **settings)


async def grant(server: Server, assertion: str, client: str = "agent", **params: str) -> httpx.Response:
    return await server.post(TOKEN, {"grant_type": JWT_BEARER, "assertion": assertion, **params}, client=client)


def refused(response: httpx.Response, error: str = "invalid_grant", words: str = "") -> None:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    body = response.json()
    assert body["error"] == error and "access_token" not in body, body
    assert words in body.get("error_description", ""), body


async def test_an_identity_assertion_becomes_an_access_token_for_its_user(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    assertion = id_jag(SIGNER, IDP, scope="mcp read", resource=RESOURCE)
    response = await grant(server, assertion, scope="mcp", resource=RESOURCE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "mcp" and "refresh_token" not in body  # narrowed to the request; no refresh token
    seen = await server.introspect(body["access_token"])
    assert seen["active"] and seen["sub"] == "alice" and seen["client_id"] == "agent"
    assert seen["aud"] == RESOURCE  # bound to the assertion's resource
    # Without a scope parameter: what the assertion grants within the client's scopes ("other" is neither's).
    wide = await grant(server, id_jag(SIGNER, IDP, scope="mcp read other"))
    assert wide.status_code == 200 and wide.json()["scope"] == "mcp read", wide.text
    metadata = (await server.http.get(METADATA)).json()
    assert JWT_BEARER in metadata["grant_types_supported"]


async def test_a_replayed_assertion_is_refused_even_on_two_workers_at_once(make_server: MakeServer) -> None:
    clients = cast()  # one store, one set of clients: two workers
    first, second = await with_grant(make_server, clients), await with_grant(make_server, clients)
    for _ in range(5):
        assertion = id_jag(SIGNER, IDP)
        answers = await asyncio.gather(*(grant(worker, assertion) for worker in (first, second) for _ in range(3)))
        assert sorted(answer.status_code for answer in answers) == [200] + [400] * 5
    refused(await grant(first, assertion), words="used before")


async def test_forged_and_misdirected_assertions_are_refused(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    now = int(time.time())
    stranger = Signer.new("ES256", kid="idp-1")  # the attacker's key under the provider's kid
    claims = {"iss": IDP, "sub": "alice", "aud": AUDIENCE, "client_id": "agent", "exp": now + 60, "jti": "x"}
    cases: list[tuple[str, dict[str, str], str, str]] = [
        (
            stranger.assertion(IDP, typ="oauth-id-jag+jwt", sub="alice", client_id="agent"),
            {},
            "invalid_grant",
            "signature",
        ),
        (unsigned(claims, {"alg": "none", "typ": "oauth-id-jag+jwt"}), {}, "invalid_grant", "alg"),
        (id_jag(SIGNER, "https://other-idp.example.com"), {}, "invalid_grant", "not one this server trusts"),
        (SIGNER.assertion(IDP, sub="alice", client_id="agent"), {}, "invalid_grant", "typ"),
        (id_jag(SIGNER, IDP, client_id="another-client"), {}, "invalid_grant", "another client"),
        (id_jag(SIGNER, IDP, audience="https://other-as.example.com"), {}, "invalid_grant", "aud"),
        (id_jag(SIGNER, IDP, exp=now - 120, iat=now - 180), {}, "invalid_grant", "expired"),
        (id_jag(SIGNER, IDP, sub=None), {}, "invalid_grant", "sub"),
        (id_jag(SIGNER, IDP, scope="read"), {"scope": "admin"}, "invalid_scope", "admin"),
        (id_jag(SIGNER, IDP, resource=RESOURCE), {"resource": "https://elsewhere.example.com/"}, "invalid_target", ""),
        (id_jag(SIGNER, IDP, resource="not a uri"), {}, "invalid_grant", "resource"),
        ("junk", {}, "invalid_grant", "not a signed JWT"),
    ]
    for assertion, params, error, words in cases:
        refused(await grant(server, assertion, **params), error, words)


async def test_only_confidential_clients_registered_for_the_grant_may_use_it(make_server: MakeServer) -> None:
    server = await with_grant(make_server)
    refused(await grant(server, id_jag(SIGNER, IDP, client_id="public-agent"), "public-agent"), "unauthorized_client")
    refused(await grant(server, id_jag(SIGNER, IDP, client_id="m2m"), "m2m"), "unauthorized_client")
    refused(await server.post(TOKEN, {"grant_type": JWT_BEARER}, client="agent"), "invalid_request", "assertion")
    secret = server.clients["agent"].secret
    assert secret is not None
    wrong = await server.http.post(
        TOKEN,
        data={"grant_type": JWT_BEARER, "assertion": id_jag(SIGNER, IDP)},
        headers={"Authorization": basic("agent", "x")},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_trusted_issuers_come_from_the_environment_and_bad_ones_stop_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuers = [
        {"issuer": IDP, "jwks": SIGNER.jwks()},
        {"issuer": "https://b.example", "jwks_uri": "https://b.example/jwks"},
    ]
    monkeypatch.setenv("ASGI_OAUTH_ASSERTION_ISSUERS", json.dumps(issuers))
    loaded = load_section(AssertionSettings)
    assert [trusted.issuer for trusted in loaded.issuers] == [IDP, "https://b.example"]
    assert JWTBearerGrant(loaded).issuers[IDP].keys == {"jwks": SIGNER.jwks()}
    private = {"issuer": IDP, "jwks": {"keys": [SIGNER.jwk | {"d": "AAAA"}]}}
    for bad, words in (
        ([private], "public keys only"),
        ([{"issuer": IDP, "jwks_uri": "http://idp.example.com/jwks"}], "https"),
        ([{"issuer": IDP}], "exactly one"),
        ([{"issuer": IDP, "jwks": SIGNER.jwks(), "algorithms": ["HS256"]}], "algorithms"),
    ):
        monkeypatch.setenv("ASGI_OAUTH_ASSERTION_ISSUERS", json.dumps(bad))
        with pytest.raises(SettingsError, match="ASGI_OAUTH_ASSERTION_ISSUERS") as raised:
            load_section(AssertionSettings)
        assert words in str(raised.value)


async def test_issuers_added_to_the_store_are_trusted_and_removed_at_once(
    make_server: MakeServer, store: Store
) -> None:
    """Beside the configured ones: what ``asgi-oauth issuers add|remove`` writes, read by every worker per grant."""
    other = Signer.new("RS256")
    added = TrustedIssuer(issuer="https://other-idp.example.com", jwks=other.jwks(), algorithms=("RS256",))
    clients = cast()
    first, second = await with_grant(make_server, clients), await with_grant(make_server, clients)
    kept = JWTBearerGrant(issuers=[]).issuer_store(store)
    assert isinstance(kept, TrustedIssuerStore)
    refused(await grant(first, id_jag(other, added.issuer)), words="not one this server trusts")
    await kept.put_issuer(added)
    assert await kept.list_issuers() == [added] and await kept.get_issuer(added.issuer) == added
    assert (await grant(second, id_jag(other, added.issuer))).status_code == 200
    assert await kept.delete_issuer(added.issuer) is True and await kept.delete_issuer(added.issuer) is False
    refused(await grant(first, id_jag(other, added.issuer)), words="not one this server trusts")
    assert (await grant(first, id_jag(SIGNER, IDP))).status_code == 200  # the configured one stays
