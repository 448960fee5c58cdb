"""``private_key_jwt`` through the real app on both stores: what is accepted, and every refusal an attacker meets.

Each refusal must be RFC 6749's ``invalid_client`` (401, or ``invalid_request`` for a malformed request),
never a 5xx, and must leave nothing accepted: the token endpoint is asked for a token each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_oauth import MemoryStore, Store, new_client
from asgi_oauth.cimd.documents import Fetched
from asgi_oauth.crypto import b64url
from asgi_oauth.features.assertions import (
    ASSERTION_TYPE,
    AssertionSettings,
    KeySetError,
    PrivateKeyJWT,
    registered_keys,
)

from ..web.conftest import MakeServer
from ..web.helpers import INTROSPECT, METADATA, REVOKE, TOKEN, Registered, Server, default_clients
from .signing import AUDIENCE, Signer, form, unsigned

TOKEN_URL = AUDIENCE + "/token"
SIGNER = Signer.new("RS256", kid="k1")


def keyed(client_id: str, *, jwks: dict[str, Any] | None = None, jwks_uri: str | None = None) -> Registered:
    client, secret = new_client(
        client_id=client_id,
        name=client_id,
        grant_types=["client_credentials"],
        scope="read write",
        token_endpoint_auth_method="private_key_jwt",
        extra=registered_keys(jwks=jwks, jwks_uri=jwks_uri)
        if jwks or jwks_uri
        else registered_keys(jwks=SIGNER.jwks()),
    )
    assert secret is None
    return Registered(client, None)


class Clock:
    """The server's clock, moved by the test: the assertions themselves are signed at the real time."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


async def with_feature(
    make_server: MakeServer, *more: Registered, clock: Clock | None = None, **options: Any
) -> Server:
    feature = PrivateKeyJWT(AssertionSettings(**options.pop("settings", {})), fetcher=options.pop("fetcher", None))
    oauth_options = {"features": [feature], "clock": clock or Clock()}
    return await make_server(stored=[*default_clients(), keyed("keyed"), *more], oauth_options=oauth_options, **options)


async def token(server: Server, assertion: str, **params: str) -> httpx.Response:
    return await server.http.post(TOKEN, data=form(assertion, grant_type="client_credentials", **params))


def refused(response: httpx.Response, error: str = "invalid_client", words: str = "") -> str:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    body = response.json()
    assert body["error"] == error and "access_token" not in body
    assert words in body["error_description"], body["error_description"]
    return str(body["error_description"])


async def test_a_client_authenticates_with_its_own_signed_assertion(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    response = await token(server, SIGNER.assertion("keyed"), scope="read")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read"
    seen = await server.introspect(body["access_token"])
    assert seen["active"] is True and seen["client_id"] == "keyed"
    # The same method at introspection and revocation, with the token endpoint or the issuer as audience.
    for path, aud in ((INTROSPECT, TOKEN_URL), (REVOKE, AUDIENCE)):
        answer = await server.http.post(path, data=form(SIGNER.assertion("keyed", audience=aud), token="x"))
        assert answer.status_code == 200, (path, answer.text)


@pytest.mark.parametrize("alg", ["PS256", "ES256", "EdDSA"])
async def test_every_asymmetric_kind_of_key_verifies(make_server: MakeServer, alg: str) -> None:
    signer = Signer.new(alg)
    server = await with_feature(make_server, keyed("other", jwks=signer.jwks()))
    assert (await token(server, signer.assertion("other", audience=[TOKEN_URL, "https://elsewhere.test"]))).is_success


async def test_the_metadata_lists_the_method_and_its_algorithms_only_when_switched_on(make_server: MakeServer) -> None:
    on = (
        await (await with_feature(make_server, settings={"algorithms": ("ES256", "EdDSA")})).http.get(METADATA)
    ).json()
    for endpoint in ("token", "introspection", "revocation"):
        assert "private_key_jwt" in on[f"{endpoint}_endpoint_auth_methods_supported"]
        # client_secret_jwt's HS256 beside them (test_client_secret_jwt: listed only while that method is on).
        assert on[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA", "HS256"]
    off = (await (await make_server()).http.get(METADATA)).json()
    assert "private_key_jwt" not in off["token_endpoint_auth_methods_supported"]
    assert not any(key.endswith("_auth_signing_alg_values_supported") for key in off)


async def test_a_replayed_assertion_is_refused(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    assertion = SIGNER.assertion("keyed")
    assert (await token(server, assertion)).status_code == 200
    refused(await token(server, assertion), words="used before")


async def test_a_replay_on_two_workers_at_once_is_accepted_exactly_once(make_server: MakeServer, store: Store) -> None:
    """Two servers on one store stand for two workers; the same assertion goes to both at the same moment."""
    first, second = await with_feature(make_server), await with_feature(make_server)
    for _ in range(5):
        assertion = SIGNER.assertion("keyed")
        answers = await asyncio.gather(*(token(worker, assertion) for worker in (first, second) for _ in range(4)))
        assert sorted(answer.status_code for answer in answers) == [200] + [401] * 7


def _claims(client_id: str = "keyed", **more: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": AUDIENCE, "exp": now + 60, "jti": str(now), **more}


async def test_forged_assertions_are_refused(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    attacker = Signer.new("RS256", kid="k1")  # the victim's kid, the attacker's own key
    public_pem = SIGNER.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(_claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}.{b64url(mac)}"  # HS256 keyed with the client's public key
    cases = {
        "alg none": (unsigned(_claims(), {"alg": "none"}), "alg"),
        "HS256 with the public key": (confused, "alg"),
        "another key under the client's kid": (attacker.assertion("keyed"), "signature"),
        "a kid the client never registered": (Signer.new("RS256", kid="k9").assertion("keyed"), "kid"),
        "a signature cut off": (SIGNER.assertion("keyed").rpartition(".")[0] + ".", "signature"),
        "junk": ("not.a.jwt", "not a signed JWT"),
        "huge": ("e" * 9000, "longer"),
    }
    for name, (assertion, words) in cases.items():
        description = refused(await token(server, assertion), words=words)
        assert "Traceback" not in description, name


async def test_claims_that_do_not_hold_are_refused(make_server: MakeServer) -> None:
    server = await with_feature(make_server, keyed("victim", jwks=Signer.new("RS256", kid="k1").jwks()))
    now = int(time.time())
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "expired": ({"exp": now - 120, "iat": now - 180}, "expired"),
        "issued in the future": ({"iat": now + 600, "exp": now + 660}, "iat"),
        "not yet valid": ({"nbf": now + 600}, "nbf"),
        "valid for days": ({"exp": now + 5 * 86400}, "ahead"),
        "for another server": ({"aud": "https://other.example/token"}, "aud"),
        "no jti": ({"jti": None}, "jti"),
        "no exp": ({"exp": None}, "exp"),
        "about another client": ({"sub": "victim"}, "sub"),
        "a numeric jti": ({"jti": 7}, "jti"),
    }
    for name, (claims, words) in cases.items():
        assertion = SIGNER.assertion("keyed", **claims)
        assert refused(await token(server, assertion), words=words), name
    # iss names the victim, signed with keyed's key: the victim's keys do not verify it.
    refused(await token(server, SIGNER.assertion("victim")), words="signature")


async def test_methods_cannot_be_mixed_or_swapped(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    secret = server.clients["m2m"].secret
    assert secret is not None
    # A secret client presenting an assertion, and a keyed client presenting a secret (or nothing).
    refused(await token(server, SIGNER.assertion("m2m")), words="client_secret_basic")
    refused(await server.token("keyed", grant_type="client_credentials"), words="private_key_jwt")
    both = form(SIGNER.assertion("keyed"), grant_type="client_credentials", client_secret="x")
    refused(await server.http.post(TOKEN, data=both), "invalid_request", "one client authentication method")
    wrong_type = {**form(SIGNER.assertion("keyed")), "client_assertion_type": "urn:example:saml"}
    refused(await server.http.post(TOKEN, data={**wrong_type, "grant_type": "client_credentials"}), words="jwt-bearer")
    other_id = form(SIGNER.assertion("keyed"), grant_type="client_credentials", client_id="m2m")
    refused(await server.http.post(TOKEN, data=other_id), words="client_id")
    refused(await token(server, SIGNER.assertion("nobody")), words="failed")


def test_keys_with_private_parts_or_symmetric_keys_are_not_registered() -> None:
    private = SIGNER.jwk | {"d": "AAAA"}
    for jwks, words in (
        ({"keys": [private]}, "public keys only"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "public keys only"),
        ({"keys": [SIGNER.jwk | {"alg": "HS256"}]}, "alg"),
        ({"keys": []}, "1 to 16"),
        ({"nope": 1}, "keys"),
    ):
        with pytest.raises(KeySetError, match=words):
            registered_keys(jwks=jwks)
    for uri in ("http://keys.example/jwks", "https://10.0.0.1/jwks", "https://keys.example/"):
        with pytest.raises(KeySetError, match="https"):
            registered_keys(jwks_uri=uri)
    with pytest.raises(KeySetError, match="exactly one"):
        registered_keys(jwks=SIGNER.jwks(), jwks_uri="https://keys.example/jwks")


class KeyServer:
    """A client's key set URL as the server's fetcher sees it: counts fetches, answers what it holds now."""

    def __init__(self, *signers: Signer, cache_control: str = "max-age=300") -> None:
        self.signers = list(signers)
        self.cache_control = cache_control
        self.fetches = 0
        self.status = 200

    async def __call__(self, url: str) -> Fetched:
        self.fetches += 1
        await asyncio.sleep(0.01)  # concurrent requests meet one fetch in flight
        body = json.dumps({"keys": [s.jwk for s in self.signers]}).encode()
        return Fetched(self.status, {"cache-control": self.cache_control}, body)


async def test_keys_at_a_url_are_fetched_once_and_again_only_for_a_new_kid(make_server: MakeServer) -> None:
    old, new = Signer.new("ES256", kid="2026-11"), Signer.new("ES256", kid="2026-12")
    keys, clock = KeyServer(old), Clock()
    fetching = keyed("fetching", jwks_uri="https://keys.example/jwks")
    server = await with_feature(make_server, fetching, fetcher=keys, clock=clock)
    answers = await asyncio.gather(*(token(server, old.assertion("fetching")) for _ in range(8)))
    assert all(answer.status_code == 200 for answer in answers) and keys.fetches == 1
    keys.signers.append(new)  # the client rotates; within 30 s of the last fetch its new kid is not looked for
    refused(await token(server, new.assertion("fetching")), words="kid")
    assert keys.fetches == 1
    clock.ahead = 31  # then it is, once
    assert (await token(server, new.assertion("fetching"))).status_code == 200 and keys.fetches == 2
    # A flood of unknown kids right after: no fetch at all (the last one was under 30 s ago), each refused.
    flood = await asyncio.gather(*(token(server, Signer.new("ES256").assertion("fetching")) for _ in range(20)))
    assert {answer.status_code for answer in flood} == {401} and keys.fetches == 2
    clock.ahead = 62  # a flood when a refetch is allowed: one fetch for all of it
    flood = await asyncio.gather(*(token(server, Signer.new("ES256").assertion("fetching")) for _ in range(20)))
    assert {answer.status_code for answer in flood} == {401} and keys.fetches == 3
    assert (await token(server, old.assertion("fetching"))).status_code == 200 and keys.fetches == 3


async def test_a_key_set_url_that_fails_is_a_clear_refusal_and_not_fetched_again_at_once(
    make_server: MakeServer,
) -> None:
    keys, clock = KeyServer(SIGNER), Clock()
    keys.status = 503
    fetching = keyed("fetching", jwks_uri="https://keys.example/jwks")
    server = await with_feature(make_server, fetching, fetcher=keys, clock=clock)
    flood = await asyncio.gather(*(token(server, SIGNER.assertion("fetching")) for _ in range(10)))
    for answer in flood:
        refused(answer, words="HTTP 503")
    assert keys.fetches == 1  # the failure is remembered: a flood naming the URL costs one fetch
    keys.status = 200
    refused(await token(server, SIGNER.assertion("fetching")), words="HTTP 503")
    clock.ahead = 31  # then the URL is tried again
    assert (await token(server, SIGNER.assertion("fetching"))).status_code == 200 and keys.fetches == 2


async def test_a_key_set_url_that_resolves_inward_is_not_fetched() -> None:
    """The default fetcher: ``localhost`` passes the URL check (it is a name) and is refused on resolving."""
    from ..web.helpers import build_server, settings_for

    store = MemoryStore()
    client = keyed("inward", jwks_uri="https://localhost/jwks").client
    await store.create_client(client)
    built = build_server(store, settings_for(), features=[PrivateKeyJWT()])
    try:
        description = refused(await token(built, SIGNER.assertion("inward")), words="public internet")
        assert "jwks_uri" in description
    finally:
        await built.http.aclose()


async def test_a_client_registers_its_keys_itself(make_server: MakeServer) -> None:
    """RFC 7591 with the registration feature on: ``jwks`` (or ``jwks_uri``) instead of a secret."""
    signer = Signer.new("ES256")
    server = await with_feature(make_server, enable_dynamic_registration=True, dynamic_registration_scopes=("read",))
    metadata = {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}
    answer = await server.http.post("/oauth/register", json={**metadata, "jwks": signer.jwks()})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"] == signer.jwks()
    assert (await token(server, signer.assertion(body["client_id"]))).status_code == 200
    for wrong, words in (
        ({"jwks": {"keys": [signer.jwk | {"d": "AAAA"}]}}, "public keys only"),
        ({"jwks": signer.jwks(), "jwks_uri": "https://keys.example/jwks"}, "exactly one"),
        ({}, "exactly one"),
        ({"jwks_uri": "http://keys.example/jwks"}, "https"),
        ({"jwks_uri": 7}, "string"),
    ):
        refusal = await server.http.post("/oauth/register", json={**metadata, **wrong})
        assert refusal.status_code == 400 and refusal.json()["error"] == "invalid_client_metadata", refusal.text
        assert words in refusal.json()["error_description"]
    off = await make_server(enable_dynamic_registration=True, dynamic_registration_scopes=("read",))
    refusal = await off.http.post("/oauth/register", json={**metadata, "jwks": signer.jwks()})
    assert refusal.status_code == 400 and "client_secret_basic" in refusal.json()["error_description"]


async def test_a_client_id_metadata_document_may_name_keys_for_client_credentials(make_server: MakeServer) -> None:
    """MCP's client credentials extension: a client named by its document's URL, proving itself with the keys the
    document lists (or links to), may use client_credentials; a public document client still may not."""
    from ..web.test_cimd import Documents

    signer, client_id = Signer.new("ES256"), "https://agent.example/oauth/client.json"
    documents = Documents()
    body = {"client_id": client_id, "grant_types": ["client_credentials"], "scope": "read"}
    documents.serve(client_id, {**body, "token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks()})
    server = await make_server(
        oauth_options={"features": [PrivateKeyJWT()], "document_fetcher": documents},
        enable_client_id_metadata_documents=True,
        dynamic_registration_scopes=("read", "write"),
    )
    answer = await token(server, signer.assertion(client_id), scope="read")
    assert answer.status_code == 200, answer.text
    refused(await token(server, signer.assertion(client_id), scope="write"), "invalid_scope")
    refused(await token(server, Signer.new("ES256", kid=signer.kid).assertion(client_id)), words="signature")
    private = {"keys": [signer.jwk | {"d": "A"}]}
    for bad, words in (
        ({**body, "token_endpoint_auth_method": "private_key_jwt", "jwks": private}, "keys cannot be used"),
        ({**body, "token_endpoint_auth_method": "none"}, "may use only authorization_code"),
        ({**body, "token_endpoint_auth_method": "client_secret_basic"}, "none or private_key_jwt"),
    ):
        other = f"https://agent.example/{len(documents.documents)}.json"
        documents.serve(other, {**bad, "client_id": other})
        refused(await token(server, signer.assertion(other)), words=words)


jwt_like = st.builds(
    lambda parts: ".".join(parts),
    st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/", max_size=60),
             min_size=1, max_size=4),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    assertion=st.one_of(jwt_like, st.text(max_size=200)), kind=st.one_of(st.just(ASSERTION_TYPE), st.text(max_size=40))
)
async def test_any_client_assertion_is_refused_in_words_never_a_5xx(
    make_server: MakeServer, assertion: str, kind: str
) -> None:
    server = await with_feature(make_server)
    form = {"grant_type": "client_credentials", "client_assertion_type": kind, "client_assertion": assertion}
    answer = await server.http.post(TOKEN, data=form)
    assert answer.status_code in (400, 401), answer.text
    assert answer.json()["error"] in ("invalid_client", "invalid_request")
