"""``client_secret_jwt`` through the real app on both stores: a client signs its assertions with HMAC and a secret
the server derives from its ``secret_key`` and the client's salt, never stores, and checks as ``private_key_jwt``'s.

Each refusal must be ``invalid_client`` (401) in words, never a 5xx, and the token endpoint is asked each time.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from asgi_oauth import ClientError, Event, Store, new_client
from asgi_oauth.features.assertions import AssertionSettings, PrivateKeyJWT

from ..web.conftest import MakeServer
from ..web.helpers import INTROSPECT, METADATA, SECRET_KEY, TOKEN, Registered, Server, default_clients
from ..web.test_cimd import Documents
from .signing import AUDIENCE, Signer, form, unsigned
from .test_private_key_jwt import SIGNER, keyed, refused

OLD_KEY = "the-old-secret-key-0123456789abcdefghij"
TOKEN_URL = AUDIENCE + "/token"


def derived(client_id: str, *, key: str = SECRET_KEY) -> Registered:
    """A ``client_secret_jwt`` client made under ``key``: the record (a salt, no secret) and the secret printed."""
    client, secret = new_client(
        client_id=client_id,
        name=client_id,
        grant_types=["client_credentials"],
        scope="read write",
        token_endpoint_auth_method="client_secret_jwt",
        secret_key=(SecretStr(key),),
    )
    assert secret is not None and client.secret_hash is None
    return Registered(client, secret)


def signed(
    client_id: str, secret: str, *, alg: str = "HS256", header: dict[str, Any] | None = None, **claims: Any
) -> str:
    """An assertion signed with PyJWT as any client would: ``claims`` override (or, as ``None``, drop) the usual."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60}
    body = {**body, "jti": secrets.token_urlsafe(16), **claims}
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, secret.encode(), algorithm=alg, headers=header)


HMAC = derived("hmac")  # one record for every server of a test: they share the store, as workers do


async def with_feature(make_server: MakeServer, *more: Registered, **options: Any) -> Server:
    feature = PrivateKeyJWT(AssertionSettings(**options.pop("settings", {})))
    stored = [*default_clients(), keyed("keyed"), HMAC, *more]
    oauth_options = {"features": [feature], **options.pop("oauth_options", {})}
    return await make_server(stored=stored, oauth_options=oauth_options, **options)


async def token(server: Server, assertion: str, **params: str) -> httpx.Response:
    return await server.http.post(TOKEN, data=form(assertion, grant_type="client_credentials", **params))


def secret_of(server: Server, client_id: str = "hmac") -> str:
    secret = server.clients[client_id].secret
    assert secret is not None
    return secret


async def test_a_client_authenticates_with_its_derived_secret(make_server: MakeServer, store: Store) -> None:
    server = await with_feature(make_server)
    secret = secret_of(server)
    answer = await token(server, signed("hmac", secret), scope="read")
    assert answer.status_code == 200, answer.text
    seen = await server.introspect(answer.json()["access_token"])
    assert seen["active"] is True and seen["client_id"] == "hmac"
    # The issuer as audience, at introspection; a kid in the header means nothing to a secret and is ignored.
    check = await server.http.post(
        INTROSPECT, data=form(signed("hmac", secret, aud=AUDIENCE, header={"kid": "any"}), token="x")
    )
    assert check.status_code == 200, check.text
    # Nothing secret is kept: the stored record holds the salt, not the secret nor a hash of it.
    kept = await store.get_client("hmac")
    assert kept is not None and kept.secret_hash is None
    assert set(kept.extra["client_secret_jwt"]) == {"salt"} and secret not in repr(kept)


async def test_a_wrong_secret_is_refused_and_told_as_an_event(make_server: MakeServer) -> None:
    failed: list[Event] = []

    async def record(event: Event) -> None:
        failed.append(event)

    server = await with_feature(make_server, oauth_options={"events": [record]})
    refused(await token(server, signed("hmac", secrets.token_urlsafe(32))), words="secret")
    other = derived("hmac")  # the same id, another salt: another secret
    refused(await token(server, signed("hmac", str(other.secret))), words="does not verify with the client's secret")
    for _ in range(100):  # hooks run in tasks of their own
        if len(failed) == 2:
            break
        await asyncio.sleep(0.01)
    assert [(e.kind, e.client_id, e.what) for e in failed] == [("client_auth_failed", "hmac", "client_secret_jwt")] * 2


async def test_a_secret_derived_with_an_older_key_works_until_that_key_is_dropped(make_server: MakeServer) -> None:
    made_before = derived("rotated", key=OLD_KEY)
    secret = str(made_before.secret)
    kept = await with_feature(make_server, made_before, secret_key=(SECRET_KEY, OLD_KEY))
    assert (await token(kept, signed("rotated", secret))).status_code == 200
    assert (await token(kept, signed("hmac", secret_of(kept)))).status_code == 200  # the current key's clients too
    dropped = await with_feature(make_server, made_before)  # OLD_KEY rotated out
    refused(await token(dropped, signed("rotated", secret)), words="secret")


async def test_only_hmac_for_secret_clients_and_never_hmac_for_keyed_ones(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    secret = secret_of(server)
    now = int(time.time())
    claims = {"iss": "hmac", "sub": "hmac", "aud": AUDIENCE, "exp": now + 60, "jti": secrets.token_urlsafe(8)}
    for assertion in (
        unsigned(claims, {"alg": "none"}),
        unsigned(claims, {"alg": "HS256", "typ": "JWT"}),  # an empty signature
        Signer.new("RS256").assertion("hmac"),
        Signer.new("ES256").assertion("hmac"),
    ):
        description = refused(await token(server, assertion))
        assert "alg" in description or "signature" in description, description
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # what PyJWT says of a 256-bit key for SHA-512
        too_short = signed("hmac", secret, alg="HS512")
    refused(await token(server, too_short), words="'HS512' is not accepted")
    for algorithms in (("HS512",), ("HS256", "RS256"), ("none",)):
        with pytest.raises(ValueError, match="secret_algorithms"):
            AssertionSettings(secret_algorithms=algorithms)
    # A keyed client's assertion in HS256, with the secret of another client or with its own public key (the
    # latter is in test_private_key_jwt's forgeries): refused for its alg before any key is looked at.
    refused(await token(server, signed("keyed", secret)), words="'HS256' is not accepted")
    public = SIGNER.jwk["n"]
    refused(await token(server, signed("keyed", public)), words="'HS256' is not accepted")


async def test_claims_and_replays_are_checked_as_for_keys(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    secret, now = secret_of(server), int(time.time())
    once = signed("hmac", secret)
    assert (await token(server, once)).status_code == 200
    refused(await token(server, once), words="used before")
    for claims, words in (
        ({"exp": now - 120, "iat": now - 180}, "expired"),
        ({"iat": now + 600, "exp": now + 660}, "iat"),
        ({"exp": now + 5 * 86400}, "ahead"),
        ({"aud": "https://other.example/token"}, "aud"),
        ({"sub": "keyed"}, "sub"),
        ({"jti": None}, "jti"),
    ):
        refused(await token(server, signed("hmac", secret, **claims)), words=words)
    # iss names another client: that client's secret (derived from its own salt) does not verify it.
    refused(await token(server, signed("hmac", secret, iss="other", sub="other")), words="failed")
    other = derived("other")
    server = await with_feature(make_server, other)
    refused(await token(server, signed("other", secret)), words="secret")


async def test_methods_cannot_be_swapped(make_server: MakeServer) -> None:
    server = await with_feature(make_server)
    secret = secret_of(server)
    # The derived secret is no client_secret_basic/post secret, nor may a secret client sign HMAC assertions.
    refused(await server.token("hmac", grant_type="client_credentials"), words="registered to authenticate with")
    basic = await server.http.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("hmac", secret))
    refused(basic, words="client_secret_jwt")
    refused(await token(server, signed("m2m", secret_of(server, "m2m"))), words="client_secret_basic")
    # Switched off (no HMAC algorithms), the method is refused for what it is, and not advertised.
    off = await with_feature(make_server, settings={"secret_algorithms": ()})
    refused(await token(off, signed("hmac", secret)), words="client_secret_jwt is not accepted")


async def test_the_metadata_lists_exactly_what_is_on(make_server: MakeServer) -> None:
    both = (await (await with_feature(make_server, settings={"algorithms": ("ES256",)})).http.get(METADATA)).json()
    keys_only = await with_feature(make_server, settings={"algorithms": ("ES256",), "secret_algorithms": ()})
    only = (await keys_only.http.get(METADATA)).json()
    off = (await (await make_server()).http.get(METADATA)).json()
    for endpoint in ("token", "introspection", "revocation"):
        methods = f"{endpoint}_endpoint_auth_methods_supported"
        algorithms = f"{endpoint}_endpoint_auth_signing_alg_values_supported"
        assert {"private_key_jwt", "client_secret_jwt"} <= set(both[methods]) and both[algorithms] == ["ES256", "HS256"]
        assert "private_key_jwt" in only[methods] and "client_secret_jwt" not in only[methods]
        assert only[algorithms] == ["ES256"]
        assert "client_secret_jwt" not in off.get(methods, []) and algorithms not in off


def test_no_such_client_is_made_without_a_configured_secret_key() -> None:
    with pytest.raises(ClientError, match="set ASGI_OAUTH_SECRET_KEY"):
        new_client(name="job", grant_types=["client_credentials"], token_endpoint_auth_method="client_secret_jwt")
    with pytest.raises(ClientError, match="derived by the server"):
        new_client(
            name="job",
            grant_types=["client_credentials"],
            token_endpoint_auth_method="client_secret_jwt",
            client_secret="chosen-by-a-person",
            secret_key=(SecretStr(SECRET_KEY),),
        )
    # Each client gets its own salt, and so its own secret, under the same key.
    first, second = derived("same"), derived("same")
    assert first.secret != second.secret
    assert first.client.extra["client_secret_jwt"] != second.client.extra["client_secret_jwt"]


async def test_a_client_registers_itself_and_gets_its_secret_once(make_server: MakeServer) -> None:
    """RFC 7591 with the registration feature on: the answer carries the derived secret; without a configured
    secret_key the registration is refused saying to set one."""
    metadata = {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_jwt"}
    server = await with_feature(make_server, enable_dynamic_registration=True, dynamic_registration_scopes=("read",))
    answer = await server.http.post("/oauth/register", json=metadata)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["token_endpoint_auth_method"] == "client_secret_jwt" and body["client_secret"]
    assert (await token(server, signed(body["client_id"], body["client_secret"]))).status_code == 200
    ephemeral = await with_feature(
        make_server, enable_dynamic_registration=True, dynamic_registration_scopes=("read",), secret_key=()
    )
    refusal = await ephemeral.http.post("/oauth/register", json=metadata)
    assert refusal.status_code == 400 and refusal.json()["error"] == "invalid_client_metadata", refusal.text
    assert "set ASGI_OAUTH_SECRET_KEY" in refusal.json()["error_description"]
    off = await make_server(enable_dynamic_registration=True, dynamic_registration_scopes=("read",))
    refusal = await off.http.post("/oauth/register", json=metadata)
    assert refusal.status_code == 400 and "client_secret_jwt" not in refusal.json()["error_description"]


async def test_a_client_id_metadata_document_cannot_use_a_secret(make_server: MakeServer) -> None:
    documents, client_id = Documents(), "https://agent.example/oauth/client.json"
    body = {"client_id": client_id, "grant_types": ["client_credentials"], "scope": "read"}
    documents.serve(client_id, {**body, "token_endpoint_auth_method": "client_secret_jwt"})
    server = await make_server(
        oauth_options={"features": [PrivateKeyJWT()], "document_fetcher": documents},
        enable_client_id_metadata_documents=True,
        dynamic_registration_scopes=("read",),
    )
    refused(
        await token(server, signed(client_id, "a-guess-as-long-as-a-secret-0123456789")), words="cannot hold a secret"
    )
    other = "https://agent.example/other.json"
    documents.serve(other, {**body, "client_id": other, "token_endpoint_auth_method": "client_secret_basic"})
    refused(
        await token(server, signed(other, "a-guess-as-long-as-a-secret-0123456789")), words="none or private_key_jwt"
    )
