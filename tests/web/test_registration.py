"""RFC 7591 dynamic client registration through the real app on both stores: registered clients get tokens,
every metadata error has its RFC 7591 code, and the abuse controls (per-address limit, cap, unused-client
expiry, scope cap, initial access token) never reach clients that already exist."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.definitions import OPENAPI_31

from asgi_oauth import MemoryStore, OAuthServer, Store
from asgi_oauth.features import DEFAULT_GRANTS

from .conftest import MakeServer
from .helpers import BASE_URL, ISSUER, METADATA, TOKEN, Server, assert_error, basic, pkce_pair, settings_for
from .test_authorize import Browser, consent_fields, resolve_user

REGISTER = "/oauth/register"
NATIVE_CALLBACK = "http://127.0.0.1:33418/callback"
INITIAL_TOKEN = "initial-access-token-0123456789abcdef"

#: What the ``mcp`` SDK's OAuth client posts (tests/mcp/README.md), unknown fields included.
MCP_METADATA: dict[str, Any] = {
    "redirect_uris": [NATIVE_CALLBACK],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": "read",
    "client_name": "MCP client",
    "application_type": "native",
    "software_id": "example",
    "logo_uri": None,
}

CONFIDENTIAL: dict[str, Any] = {
    "redirect_uris": ["https://client.example/cb"],
    "grant_types": ["authorization_code", "client_credentials"],
    "scope": "read write",
    "client_name": "Confidential",
}


async def open_server(make_server: MakeServer, **settings: Any) -> Server:
    settings = {"enable_dynamic_registration": True, "dynamic_registration_scopes": "read write", **settings}
    return await make_server(password_verifier=None, oauth_options={"user_resolver": resolve_user}, **settings)


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    return await open_server(make_server)


@asynccontextmanager
async def sender(server: Server, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """Requests arriving from ``address``, as a client elsewhere on the network would send them."""
    transport = httpx.ASGITransport(app=server.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


async def registered(http: httpx.AsyncClient, metadata: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await http.post(REGISTER, json=metadata, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def client_credentials(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    headers = {"Authorization": basic(client_id, secret)}
    return await http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)


# -- off by default, advertised when on ----------------------------------------------------------------


async def test_off_by_default_neither_served_nor_advertised(make_server: MakeServer) -> None:
    server = await make_server()
    assert (await server.http.post(REGISTER, json=CONFIDENTIAL)).status_code == 404
    assert "registration_endpoint" not in (await server.http.get(METADATA)).json()


async def test_advertised_in_the_metadata_when_on(server: Server) -> None:
    assert (await server.http.get(METADATA)).json()["registration_endpoint"] == ISSUER + "/register"


# -- happy paths ----------------------------------------------------------------------------------------


async def test_public_client_as_the_mcp_sdk_registers_it_runs_a_pkce_code_flow(server: Server, store: Store) -> None:
    body = await registered(server.http, MCP_METADATA)
    client_id = body["client_id"]
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["redirect_uris"] == [NATIVE_CALLBACK]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    # It asked for "read"; it is registered for the whole cap, so it can step up later, and the answer says so.
    assert body["scope"] == "read write"
    assert body["client_name"] == "MCP client"
    assert isinstance(body["client_id_issued_at"], int)
    # Unknown metadata is ignored, not echoed as if it had been registered.
    assert not {"application_type", "software_id", "logo_uri"} & set(body)

    browser = Browser(server.http, server.oauth)
    verifier, challenge = pkce_pair()
    page = await browser.authorize(
        response_type="code",
        client_id=client_id,
        redirect_uri=NATIVE_CALLBACK,
        state="s",
        scope="read",  # what it needs now, as the SDK asks; the registration allows it more
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert page.status_code == 200, page.text
    done = await server.http.post(
        "/oauth/authorize", data={**consent_fields(page), "decision": "allow"}, headers={"x-test-user": "alice"}
    )
    assert done.headers["location"].startswith(NATIVE_CALLBACK + "?code=")
    code = httpx.URL(done.headers["location"]).params["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": NATIVE_CALLBACK,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    tokens = await server.http.post(TOKEN, data=form)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read"
    assert "refresh_token" in tokens.json()
    stored = await store.get_client(client_id)
    assert stored is not None and stored.dynamic and stored.unused_expires_at == 0  # used: kept for good


async def test_confidential_client_gets_a_hashed_secret_that_works(server: Server, store: Store) -> None:
    body = await registered(server.http, CONFIDENTIAL)
    assert body["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591's default
    assert body["client_secret_expires_at"] == 0
    assert body["response_types"] == ["code"]
    secret = body["client_secret"]
    assert len(secret) >= 43  # 256 bits, base64url
    stored = await store.get_client(body["client_id"])
    assert stored is not None and stored.secret_hash is not None
    assert stored.secret_hash.startswith("sha256$") and secret not in stored.secret_hash

    response = await client_credentials(server.http, body["client_id"], secret)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"
    assert (await client_credentials(server.http, body["client_id"], secret + "x")).status_code == 401


async def test_client_secret_post_with_a_secret_lifetime(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_client_secret_lifetime=86400)
    metadata = {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}
    body = await registered(server.http, metadata)
    assert body["client_secret_expires_at"] == body["client_id_issued_at"] + 86400
    assert body["response_types"] == []
    assert body["redirect_uris"] == []
    assert body["scope"] == "read write"  # no scope asked: the whole cap
    form = {"grant_type": "client_credentials", "client_id": body["client_id"], "client_secret": body["client_secret"]}
    response = await server.http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "uri", ["http://localhost:8080/cb", "http://[::1]:9/cb", "http://127.0.0.2/cb", "https://app.example/cb?x=1"]
)
async def test_accepted_redirect_uris(server: Server, uri: str) -> None:
    body = await registered(server.http, {"redirect_uris": [uri], "token_endpoint_auth_method": "none"})
    assert body["redirect_uris"] == [uri]


# -- RFC 7591 section 3.2.2 errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ([], "invalid_client_metadata"),
        ("redirect_uris", "invalid_client_metadata"),
        ({}, "invalid_redirect_uri"),  # authorization_code by default, so a redirect URI is needed
        ({"redirect_uris": "https://a.example/cb"}, "invalid_redirect_uri"),
        ({"redirect_uris": [1]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://a.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://a.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://127.0.0.1.evil.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["com.example.app:/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://a.example:99999/cb"]}, "invalid_redirect_uri"),  # no port
        ({"redirect_uris": ["http://127.0.0.1:x/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://a.example/" + str(i) for i in range(21)]}, "invalid_redirect_uri"),
        ({**CONFIDENTIAL, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "token_endpoint_auth_method": 1}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "grant_types": ["password"]}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "grant_types": ["urn:x:\u00e9\"'"]}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "grant_types": []}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "grant_types": "authorization_code"}, "invalid_client_metadata"),
        ({**MCP_METADATA, "grant_types": ["authorization_code", "client_credentials"]}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "response_types": ["token"]}, "invalid_client_metadata"),
        (
            {**CONFIDENTIAL, "grant_types": ["client_credentials"], "response_types": ["code"]},
            "invalid_client_metadata",
        ),
        ({**CONFIDENTIAL, "response_types": []}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "scope": "read admin"}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "scope": 'read "x'}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "scope": ["read"]}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "client_name": "x" * 201}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "client_name": " "}, "invalid_client_metadata"),
        ({**CONFIDENTIAL, "client_name": 5}, "invalid_client_metadata"),
    ],
)
async def test_metadata_errors(server: Server, store: Store, metadata: Any, error: str) -> None:
    body = assert_error(await server.http.post(REGISTER, json=metadata), error)
    assert body["error_description"]
    assert await store.count_dynamic_clients() == 0


async def test_malformed_json_and_other_methods(server: Server) -> None:
    headers = {"content-type": "application/json"}
    assert_error(await server.http.post(REGISTER, content=b"{", headers=headers), "invalid_request")
    assert (await server.http.get(REGISTER)).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        b'{"redirect_uris": ["https://a.example/\\ud800"]}',
        b'{"redirect_uris": ["https://a.example/cb"], "software_id": "\\udfff"}',
        b'{"redirect_uris": ["https://a.example/cb"], "\\ud83d": 1}',
    ],
)
async def test_json_whose_escapes_are_no_unicode_text_is_refused_and_nothing_stored(
    server: Server, store: Store, body: bytes
) -> None:
    """A lone surrogate escape (RFC 7493 section 2.1) decodes to no text a store or response can encode."""
    response = await server.http.post(REGISTER, content=body, headers={"content-type": "application/json"})
    assert_error(response, "invalid_request")
    assert await store.count_dynamic_clients() == 0


async def test_without_a_scope_cap_no_scope_can_be_registered(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_registration_scopes="")
    assert_error(await server.http.post(REGISTER, json=CONFIDENTIAL), "invalid_client_metadata")
    body = await registered(server.http, {**CONFIDENTIAL, "scope": None})
    assert "scope" not in body
    response = await client_credentials(server.http, body["client_id"], body["client_secret"])
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == ""


async def test_grants_the_server_switched_off_cannot_be_registered(make_server: MakeServer) -> None:
    server = await make_server(
        enable_dynamic_registration=True,
        oauth_options={"grants": [g for g in DEFAULT_GRANTS if g.name != "client_credentials"]},
    )
    assert_error(await server.http.post(REGISTER, json=CONFIDENTIAL), "invalid_client_metadata")


# -- initial access token ----------------------------------------------------------------------------------


async def test_initial_access_token_is_required_when_configured(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_registration_tokens=f"{'o' * 32},{INITIAL_TOKEN}")
    missing = assert_error(await server.http.post(REGISTER, json=CONFIDENTIAL), "invalid_token", 401)
    assert missing["error_description"]
    response = await server.http.post(REGISTER, json=CONFIDENTIAL)
    assert response.headers["www-authenticate"] == 'Bearer realm="asgi_oauth"'
    wrong = await server.http.post(REGISTER, json=CONFIDENTIAL, headers={"Authorization": "Bearer " + "x" * 36})
    assert_error(wrong, "invalid_token", 401)
    assert wrong.headers["www-authenticate"] == 'Bearer realm="asgi_oauth", error="invalid_token"'
    basic_auth = await server.http.post(REGISTER, json=CONFIDENTIAL, headers={"Authorization": basic("a", "b")})
    assert_error(basic_auth, "invalid_token", 401)
    body = await registered(server.http, CONFIDENTIAL, Authorization=f"Bearer {INITIAL_TOKEN}")
    assert body["client_secret"]


# -- per-address rate limit -------------------------------------------------------------------------------


async def test_each_address_registers_its_allowance_then_gets_429(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_registration_rate_limit=3, dynamic_registration_window=600)
    async with sender(server, "198.51.100.7") as flooder, sender(server, "198.51.100.8") as neighbour:
        for _ in range(3):
            await registered(flooder, CONFIDENTIAL)
        for _ in range(2):  # refused requests are not counted further: the block does not grow
            refused = await flooder.post(REGISTER, json=CONFIDENTIAL)
            assert_error(refused, "temporarily_unavailable", 429)
            assert 0 < int(refused.headers["retry-after"]) <= 600
        await registered(neighbour, CONFIDENTIAL)
        # The flooder's existing clients, and its ordinary token requests, are untouched.
        m2m = server.clients["m2m"]
        assert m2m.secret is not None
        assert (await client_credentials(flooder, "m2m", m2m.secret)).status_code == 200


async def test_unreadable_bodies_count_towards_the_allowance_too(make_server: MakeServer) -> None:
    """Every request counts, as the settings say, against ten requests per new client: malformed JSON, another
    media type, an oversized body."""
    server = await open_server(make_server, dynamic_registration_rate_limit=1, max_body_size=1024)
    async with sender(server, "198.51.100.9") as sloppy, sender(server, "198.51.100.10") as neighbour:
        for _ in range(4):
            unreadable = await sloppy.post(REGISTER, content=b"{", headers={"content-type": "application/json"})
            assert_error(unreadable, "invalid_request")
            assert_error(await sloppy.post(REGISTER, data={"client_name": "form"}), "invalid_request")
        for _ in range(2):
            oversized = await sloppy.post(REGISTER, json={"client_name": "x" * 2048})
            assert oversized.status_code == 413
        assert_error(await sloppy.post(REGISTER, json=CONFIDENTIAL), "temporarily_unavailable", 429)
        await registered(neighbour, CONFIDENTIAL)


async def test_re_running_one_client_software_is_one_client_and_never_meets_the_limit(
    make_server: MakeServer, store: Store
) -> None:
    """Every run of an MCP client registers again, on a new loopback port: the same public client comes back,
    no new record, far past the limit of new clients."""
    server = await open_server(make_server, dynamic_registration_rate_limit=3, dynamic_registration_window=600)
    async with sender(server, "198.51.100.7") as developer:
        runs = [
            await registered(developer, {**MCP_METADATA, "redirect_uris": [f"http://127.0.0.1:{port}/callback"]})
            for port in range(40000, 40025)
        ]
        assert len({run["client_id"] for run in runs}) == 1
        stored = await store.get_client(runs[0]["client_id"])
        assert stored is not None and stored.dynamic
        # Other software (another name) is a new client, and those are what the limit counts: the first run was
        # one of three, so two more.
        others = [await developer.post(REGISTER, json={**MCP_METADATA, "client_name": f"Tool {n}"}) for n in range(4)]
        assert [answer.status_code for answer in others] == [201, 201, 429, 429]
        # A confidential client is never shared: each registration is its own (and counted as new).
        assert (await developer.post(REGISTER, json=CONFIDENTIAL)).status_code == 429


async def test_varied_metadata_is_limited_per_address_and_repeats_have_a_bound_too(make_server: MakeServer) -> None:
    """An attacker varying software_id, name or redirect URIs makes new clients, limited per address; another
    address is unaffected; re-registering one client endlessly stops at ten requests per new client allowed."""
    server = await open_server(make_server, dynamic_registration_rate_limit=2, dynamic_registration_window=600)
    async with sender(server, "127.0.0.5") as attacker, sender(server, "127.0.0.6") as neighbour:
        varied = [
            {**MCP_METADATA, "software_id": "a"},
            {**MCP_METADATA, "client_name": "b"},
            {**MCP_METADATA, "redirect_uris": ["https://c.example/cb"]},
            {**MCP_METADATA, "software_id": "d"},
        ]
        statuses = [(await attacker.post(REGISTER, json=metadata)).status_code for metadata in varied]
        assert statuses == [201, 201, 429, 429]
        assert (await neighbour.post(REGISTER, json=varied[2])).status_code == 201
        repeats = [(await attacker.post(REGISTER, json=varied[0])).status_code for _ in range(25)]
        assert repeats == [201] * 16 + [429] * 9  # 2 x 10 requests in all, 4 of them spent above


# -- the cap ------------------------------------------------------------------------------------------------


async def test_the_cap_refuses_new_registrations_never_existing_clients(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_client_limit=2)
    first = await registered(server.http, CONFIDENTIAL)
    await registered(server.http, CONFIDENTIAL)
    full = assert_error(await server.http.post(REGISTER, json=CONFIDENTIAL), "temporarily_unavailable", 503)
    assert "registered clients" in full["error_description"]
    assert (await client_credentials(server.http, first["client_id"], first["client_secret"])).status_code == 200
    m2m = server.clients["m2m"]
    assert m2m.secret is not None
    assert (await client_credentials(server.http, "m2m", m2m.secret)).status_code == 200


# -- clients never used expire; used ones stay -----------------------------------------------------------


async def test_a_client_that_never_got_a_token_expires_and_a_used_one_stays(
    make_server: MakeServer, store: Store
) -> None:
    server = await open_server(
        make_server, dynamic_client_unused_lifetime=0.5, dynamic_client_limit=2, client_cache_ttl=0
    )
    used = await registered(server.http, CONFIDENTIAL)
    unused = await registered(server.http, CONFIDENTIAL)
    assert (await client_credentials(server.http, used["client_id"], used["client_secret"])).status_code == 200
    await asyncio.sleep(0.8)

    gone = await client_credentials(server.http, unused["client_id"], unused["client_secret"])
    assert_error(gone, "invalid_client", 401)
    kept = await client_credentials(server.http, used["client_id"], used["client_secret"])
    assert kept.status_code == 200, kept.text
    # The expired one no longer holds a place under the cap.
    await registered(server.http, CONFIDENTIAL)
    assert await store.count_dynamic_clients() == 2
    assert unused["client_id"] not in {c.client_id for c in await store.list_clients()}


async def test_a_failed_token_request_does_not_keep_a_client(make_server: MakeServer, store: Store) -> None:
    server = await open_server(make_server, dynamic_client_unused_lifetime=0.5, client_cache_ttl=0)
    body = await registered(server.http, CONFIDENTIAL)
    bad = await server.http.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": "https://client.example/cb"},
        headers={"Authorization": basic(body["client_id"], body["client_secret"])},
    )
    assert_error(bad, "invalid_grant")
    await asyncio.sleep(0.8)
    assert await store.get_client(body["client_id"]) is None


# -- a flood never locks out existing clients ------------------------------------------------------------


async def test_a_flood_from_many_addresses_never_stops_existing_clients(make_server: MakeServer) -> None:
    server = await open_server(make_server, dynamic_registration_rate_limit=2, dynamic_client_limit=30)
    early = await registered(server.http, CONFIDENTIAL)
    m2m = server.clients["m2m"]
    assert m2m.secret is not None

    async def flood(address: str) -> list[int]:
        async with sender(server, address) as http:
            return [(await http.post(REGISTER, json=CONFIDENTIAL)).status_code for _ in range(4)]

    async def legitimate() -> list[int]:
        statuses = []
        async with sender(server, "192.0.2.1") as http:
            for _ in range(20):
                statuses.append((await client_credentials(http, "m2m", m2m.secret or "")).status_code)
                statuses.append(
                    (await client_credentials(http, early["client_id"], early["client_secret"])).status_code
                )
                await asyncio.sleep(0)
        return statuses

    results = await asyncio.gather(legitimate(), *(flood(f"203.0.113.{i}") for i in range(1, 41)))
    assert results[0] == [200] * 40
    flooded = [status for statuses in results[1:] for status in statuses]
    assert flooded.count(429) == 80  # every address past its two
    assert flooded.count(201) == 29  # the cap, less the client registered before the flood
    assert flooded.count(503) == 51  # the rest of the first two of each address: the cap was reached


# -- the published description, and arbitrary bodies ------------------------------------------------------


def test_openapi_documents_register_only_when_on() -> None:
    on = OAuthServer(settings_for(enable_dynamic_registration=True), store=MemoryStore())
    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(on.openapi)]
    assert errors == []
    assert "post" in on.openapi["paths"]["/register"]
    assert "invalid_client_metadata" in on.openapi["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    assert "/register" not in OAuthServer(settings_for(), store=MemoryStore()).openapi["paths"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = st.sampled_from(["redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope"])
_VALUES = _JSON | st.lists(st.sampled_from(["code", "authorization_code", "client_credentials", "https://a.b/c"]))


@settings(max_examples=150, deadline=None)
@given(body=_JSON | st.dictionaries(_FIELDS | st.just("client_name"), _VALUES, max_size=6))
def test_any_json_body_is_registered_or_refused_never_a_server_error(body: Any) -> None:
    oauth = OAuthServer(
        settings_for(enable_dynamic_registration=True, dynamic_registration_rate_limit=0), store=MemoryStore()
    )

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=oauth)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            content = json.dumps(body).encode()  # json=None would send no body at all
            return await http.post("/register", content=content, headers={"content-type": "application/json"})

    response = asyncio.run(post())
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
