"""Client registration rules (asgi_oauth/clients.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from asgi_oauth import crypto
from asgi_oauth.clients import (
    ClientError,
    ClientExists,
    check_redirect_uri,
    declared_clients,
    new_client,
    register_client,
    valid_scope_token,
)
from asgi_oauth.store import MemoryStore

REDIRECT = "https://app.example/cb"


def refused(**overrides: Any) -> str:
    fields: dict[str, Any] = {"name": "App", "redirect_uris": [REDIRECT]}
    fields.update(overrides)
    with pytest.raises(ClientError) as caught:
        new_client(**fields)
    return str(caught.value)


# -- what is accepted ----------------------------------------------------------------------------


def test_confidential_client_gets_a_generated_secret_stored_as_sha256() -> None:
    before = int(time.time())
    client, secret = new_client(name="  Web app ", redirect_uris=[REDIRECT], scope="read write")
    assert secret is not None
    assert len(secret) >= 43  # 256 bits, base64url
    assert client.secret_hash is not None
    assert client.secret_hash.startswith("sha256$")
    assert secret not in client.secret_hash
    assert crypto.verify_secret(secret, client.secret_hash) is True
    assert crypto.verify_secret(secret + "x", client.secret_hash) is False

    assert client.name == "Web app"
    assert client.public is False
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.redirect_uris == (REDIRECT,)
    assert client.scopes == {"read", "write"}
    assert len(client.client_id) == crypto.FAMILY_ID_LENGTH  # 128 random bits, base64url
    assert before <= client.created_at <= int(time.time())


def test_two_generated_clients_differ() -> None:
    first, first_secret = new_client(name="A", redirect_uris=[REDIRECT])
    second, second_secret = new_client(name="A", redirect_uris=[REDIRECT])
    assert first.client_id != second.client_id
    assert first_secret != second_secret


def test_generated_client_ids_never_start_with_a_dash() -> None:
    """One draw in 64 used to, and ``asgi-oauth clients delete -Ij3...`` then read the id as an option."""
    ids = [crypto.new_client_id() for _ in range(5000)]  # (63/64) ** 5000: the old generator never passes this
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {crypto.FAMILY_ID_LENGTH}
    assert {i[0] for i in ids} >= {"_", "A", "z", "0"}  # the rest of the alphabet still leads


def test_given_secret_is_stored_with_scrypt() -> None:
    client, secret = new_client(name="App", redirect_uris=[REDIRECT], client_secret="chosen by a person")
    assert secret == "chosen by a person"
    assert client.secret_hash is not None
    assert client.secret_hash.startswith("scrypt$")
    assert "chosen by a person" not in client.secret_hash
    assert crypto.verify_secret("chosen by a person", client.secret_hash) is True
    assert crypto.verify_secret("chosen by a persona", client.secret_hash) is False


def test_public_client_has_no_secret() -> None:
    client, secret = new_client(name="SPA", client_id="spa", public=True, redirect_uris=["http://127.0.0.1/cb"])
    assert secret is None
    assert client.secret_hash is None
    assert client.public is True
    assert client.token_endpoint_auth_method == "none"


def test_fields_are_normalised() -> None:
    client, _ = new_client(
        name="Svc",
        client_id="svc-1",
        grant_types=["refresh_token", "client_credentials", "authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT, "com.example.app:/oauth", REDIRECT],
        scope="  read:users   /accounts.read email read:users ",
        token_endpoint_auth_method="client_secret_post",
        first_party=True,
        introspect_any=True,
    )
    # Grants in canonical order without duplicates, URIs and scopes deduplicated in given order.
    assert client.grant_types == ("authorization_code", "client_credentials", "refresh_token")
    assert client.redirect_uris == (REDIRECT, "com.example.app:/oauth")
    assert client.scope == "read:users /accounts.read email"
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.first_party is True
    assert client.introspect_any is True


def test_client_credentials_only_needs_no_redirect_uri() -> None:
    client, secret = new_client(name="Worker", grant_types=["client_credentials"])
    assert client.redirect_uris == ()
    assert secret is not None


@pytest.mark.parametrize("client_id", ["a", "x" * 128, "my-app_1.0~!", "{braces}", "UPPER"])
def test_valid_client_ids(client_id: str) -> None:
    assert new_client(name="App", client_id=client_id, redirect_uris=[REDIRECT])[0].client_id == client_id


@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT,
        "https://app.example:8443/cb?tenant=1",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "http://localhost/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_valid_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize("token", ["read", "read:users", "/accounts.read", "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"])
def test_valid_scope_tokens(token: str) -> None:
    assert valid_scope_token(token)
    assert new_client(name="App", redirect_uris=[REDIRECT], scope=token)[0].scope == token


# -- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["", "two words", "has:colon", "x" * 129, "tab\there", "ünï", "new\nline"])
def test_bad_client_id(client_id: str) -> None:
    assert "client id" in refused(client_id=client_id)


def test_empty_name() -> None:
    assert "name" in refused(name="   ")


@pytest.mark.parametrize("uri", ["/cb", "cb", "//app.example/cb", "https:///cb", "http:/cb", ""])
def test_relative_redirect_uri(uri: str) -> None:
    message = refused(redirect_uris=[uri])
    assert "absolute" in message


@pytest.mark.parametrize("uri", ["https://app.example/cb#frag", "https://app.example/cb#", "com.example.app:/cb#x"])
def test_redirect_uri_with_fragment(uri: str) -> None:
    assert "fragment" in refused(redirect_uris=[uri])


@pytest.mark.parametrize("uri", ["https://app.example:99999/cb", "http://127.0.0.1:x/cb", "https://app.example:-1/"])
def test_redirect_uri_with_a_port_that_is_none(uri: str) -> None:
    assert "not a valid URI" in refused(redirect_uris=[uri])


def test_redirect_uri_with_whitespace() -> None:
    assert "whitespace" in refused(redirect_uris=["https://app.example/c b"])


def test_one_bad_redirect_uri_among_good_ones() -> None:
    assert "fragment" in refused(redirect_uris=[REDIRECT, "https://app.example/other#x"])


def test_authorization_code_needs_a_redirect_uri() -> None:
    assert "redirect URI" in refused(redirect_uris=[])


@pytest.mark.parametrize(
    "grant", ["magic", "AUTHORIZATION_CODE", "token", "urn:ietf:params:oauth:grant-type:saml2-bearer"]
)
def test_unknown_grant(grant: str) -> None:
    assert "unknown grant type" in refused(grant_types=["authorization_code", grant])


@pytest.mark.parametrize("scope", ['say"hi"', "back\\slash", "caf\u00e9", "nul\x00", "del\x7f"])
def test_bad_scope_characters(scope: str) -> None:
    assert not valid_scope_token(scope)
    assert "scope" in refused(scope=f"read {scope}")


def test_unknown_auth_method() -> None:
    assert "auth method" in refused(token_endpoint_auth_method="client_secret_hmac")


def test_client_secret_jwt_needs_the_servers_secret_key() -> None:
    # Its secret is derived from the server's secret_key (never stored): an ephemeral key would change it.
    assert "ASGI_OAUTH_SECRET_KEY" in refused(token_endpoint_auth_method="client_secret_jwt")


def test_public_client_cannot_use_client_credentials() -> None:
    assert "client_credentials" in refused(public=True, grant_types=["authorization_code", "client_credentials"])


def test_public_client_cannot_have_a_secret() -> None:
    refused(public=True, client_secret="s3cret-s3cret")


@pytest.mark.parametrize(
    "overrides",
    [
        {"public": True, "token_endpoint_auth_method": "client_secret_basic"},
        {"public": False, "token_endpoint_auth_method": "none"},
    ],
)
def test_auth_method_must_match_public_flag(overrides: dict[str, Any]) -> None:
    assert "auth method" in refused(**overrides)


# -- registration and declared clients -----------------------------------------------------------


async def test_register_client_refuses_a_taken_id() -> None:
    store = MemoryStore()
    first, _ = new_client(name="First", client_id="web", redirect_uris=[REDIRECT])
    second, _ = new_client(name="Second", client_id="web", redirect_uris=[REDIRECT])
    assert await register_client(store, first) == first
    with pytest.raises(ClientExists, match="'web' already exists"):
        await register_client(store, second)
    assert await store.get_client("web") == first


def test_declared_clients_are_indexed_by_id() -> None:
    web, _ = new_client(name="Web", client_id="web", redirect_uris=[REDIRECT])
    cli, _ = new_client(name="CLI", client_id="cli", public=True, redirect_uris=["http://127.0.0.1/cb"])
    assert dict(declared_clients([web, cli])) == {"web": web, "cli": cli}
    assert dict(declared_clients([])) == {}


def test_duplicate_declared_ids_are_refused() -> None:
    web, _ = new_client(name="Web", client_id="web", redirect_uris=[REDIRECT])
    again, _ = new_client(name="Other", client_id="web", redirect_uris=[REDIRECT])
    with pytest.raises(ClientError, match="'web' is declared twice"):
        declared_clients([web, again])


def test_unparsable_redirect_uri_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="not a valid URI"):
        new_client(name="x", grant_types=["authorization_code"], redirect_uris=["http://[::1/cb"])
