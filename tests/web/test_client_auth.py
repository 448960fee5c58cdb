"""Client authentication (RFC 6749 sections 2.3 and 5.2) at /token, /introspect and /revoke."""

from __future__ import annotations

import base64
from dataclasses import replace

import httpx
import pytest

from .conftest import MakeServer
from .helpers import ENDPOINTS, INTROSPECT, REVOKE, TOKEN, Server, assert_error, basic, register

# Each endpoint with a body that is valid once the client is authenticated.
REQUESTS = {
    TOKEN: {"grant_type": "client_credentials"},
    INTROSPECT: {"token": "not-a-token"},
    REVOKE: {"token": "not-a-token"},
}
# Characters that mean something in Basic or in form encoding; client ids may not contain ':' or ' '.
AWKWARD_ID = "svc+a%2B&=/~!"
AWKWARD_SECRET = "p:a ss+w%rd/&=?é"


def assert_invalid_client(response: httpx.Response, *, challenge: str = "asgi_oauth") -> None:
    """401 ``invalid_client`` with a Basic challenge, whichever method was tried (RFC 9110 section 15.5.2)."""
    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"] == f'Basic realm="{challenge}"'


async def post(server: Server, path: str, *, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return await server.http.post(path, data={**REQUESTS[path], **params}, headers=headers or {})


def ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


# -- the three methods -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_client_secret_basic(server: Server, path: str) -> None:
    ok(await post(server, path, headers={"Authorization": basic("m2m", server.clients["m2m"].secret or "")}))


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_client_secret_post(server: Server, path: str) -> None:
    ok(await post(server, path, client_id="m2m-post", client_secret=server.clients["m2m-post"].secret or ""))


async def test_none_for_public_clients(server: Server) -> None:
    ok(await server.token("public", grant_type="password", username="alice", password="wonderland"))
    ok(await post(server, REVOKE, client_id="public"))


async def test_public_clients_may_not_introspect(server: Server) -> None:
    tokens = await server.password_tokens("public")

    response = await server.http.post(INTROSPECT, data={"client_id": "public", "token": tokens["access_token"]})

    assert_invalid_client(response)
    assert tokens["access_token"] not in response.text


async def test_basic_scheme_name_is_case_insensitive(server: Server) -> None:
    header = basic("m2m", server.clients["m2m"].secret or "").replace("Basic", "bAsIc")

    ok(await post(server, TOKEN, headers={"Authorization": header}))


async def test_basic_credentials_are_form_url_decoded(make_server: MakeServer) -> None:
    awkward = register(AWKWARD_ID, grant_types=["client_credentials"], scope="read", client_secret=AWKWARD_SECRET)
    server = await make_server(stored=[awkward])
    assert awkward.client.secret_hash is not None
    assert AWKWARD_SECRET not in awkward.client.secret_hash

    # RFC 6749 section 2.3.1: form-url-encode, then join with ':', then base64.
    encoded = basic(AWKWARD_ID, AWKWARD_SECRET)
    assert "%3A" in base64.b64decode(encoded[6:]).decode()
    ok(await post(server, TOKEN, headers={"Authorization": encoded}))

    # Unencoded, '+' would read as a space and '%2B' as '+': not the registered credentials.
    raw = basic(AWKWARD_ID, AWKWARD_SECRET, encode=False)
    assert_invalid_client(await post(server, TOKEN, headers={"Authorization": raw}))


async def test_awkward_credentials_in_the_body(make_server: MakeServer) -> None:
    awkward = register(
        AWKWARD_ID,
        grant_types=["client_credentials"],
        client_secret=AWKWARD_SECRET,
        token_endpoint_auth_method="client_secret_post",
    )
    server = await make_server(stored=[awkward])

    ok(await post(server, TOKEN, client_id=AWKWARD_ID, client_secret=AWKWARD_SECRET))
    assert_invalid_client(
        await post(server, TOKEN, client_id=AWKWARD_ID, client_secret=AWKWARD_SECRET.replace("+", " "))
    )


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_wrong_secret_with_basic_gets_a_basic_challenge(server: Server, path: str) -> None:
    secret = server.clients["m2m"].secret or ""
    for client_id, attempt in [("m2m", secret[:-1]), ("m2m", secret + "x"), ("m2m", ""), ("nobody", secret)]:
        response = await post(server, path, headers={"Authorization": basic(client_id, attempt)})
        assert_invalid_client(response)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_wrong_secret_in_the_body_is_401_without_a_basic_challenge(server: Server, path: str) -> None:
    secret = server.clients["m2m-post"].secret or ""
    for client_id, attempt in [("m2m-post", secret[:-1]), ("m2m-post", secret.upper()), ("nobody", secret)]:
        response = await post(server, path, client_id=client_id, client_secret=attempt)
        assert_invalid_client(response)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_no_client_authentication_at_all(server: Server, path: str) -> None:
    # RFC 6749 section 5.2 leaves the challenge to the server; this one invites Basic.
    assert_invalid_client(await post(server, path))


async def test_realm_comes_from_settings(make_server: MakeServer) -> None:
    server = await make_server(realm="Example Auth")

    response = await post(server, TOKEN, headers={"Authorization": basic("m2m", "wrong")})

    assert_invalid_client(response, challenge="Example Auth")


def assert_wrong_method(response: httpx.Response, registered: str) -> None:
    """``invalid_client`` naming the method the client registered, and nothing about its secret."""
    assert_invalid_client(response)
    expected = f"this client is registered to authenticate with {registered}; use that method"
    assert response.json()["error_description"] == expected


async def test_method_must_match_the_registration_and_the_error_names_it(server: Server) -> None:
    # m2m registered client_secret_basic: the right secret in the body is refused, and so is a wrong one,
    # with the same answer, so the mismatch says nothing about the secret.
    right = await server.post(TOKEN, {"grant_type": "client_credentials"}, client="m2m", method="client_secret_post")
    assert_wrong_method(right, "client_secret_basic")
    wrong = await server.http.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": "m2m", "client_secret": "not-it"}
    )
    assert_wrong_method(wrong, "client_secret_basic")
    assert wrong.json() == right.json()
    # m2m-post registered client_secret_post: the right secret through Basic is refused, with a challenge.
    response = await server.post(
        TOKEN, {"grant_type": "client_credentials"}, client="m2m-post", method="client_secret_basic"
    )
    assert_wrong_method(response, "client_secret_post")
    # A confidential client cannot skip its secret by claiming to be public.
    response = await server.post(TOKEN, {"grant_type": "client_credentials"}, client="m2m", method="none")
    assert_wrong_method(response, "client_secret_basic")


async def test_public_client_cannot_present_a_secret(server: Server) -> None:
    form = {"grant_type": "password", "username": "alice", "password": "wonderland"}
    response = await server.http.post(TOKEN, data={**form, "client_id": "public", "client_secret": "anything"})
    assert_wrong_method(response, "none")
    response = await server.http.post(TOKEN, data=form, headers={"Authorization": basic("public", "")})
    assert_wrong_method(response, "none")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_basic_and_body_secret_at_once_is_invalid_request(server: Server, path: str) -> None:
    basic_secret = server.clients["m2m"].secret or ""
    post_secret = server.clients["m2m-post"].secret or ""
    headers = {"Authorization": basic("m2m", basic_secret)}

    # Both proofs valid on their own, for the same or for different clients: still refused.
    for client_id, secret in [("m2m", basic_secret), ("m2m-post", post_secret)]:
        response = await post(server, path, headers=headers, client_id=client_id, client_secret=secret)
        assert_error(response, "invalid_request")


async def test_basic_with_a_different_client_id_in_the_body_is_invalid_request(server: Server) -> None:
    headers = {"Authorization": basic("m2m", server.clients["m2m"].secret or "")}

    assert_error(await post(server, TOKEN, headers=headers, client_id="m2m-post"), "invalid_request")
    # Repeating the same client_id next to Basic is harmless (some clients do it).
    ok(await post(server, TOKEN, headers=headers, client_id="m2m"))


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-id").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"m2m:secret")[:-2].decode(),
        "Basic " + base64.b64encode(b"%00:%00").decode(),
        "Basic " + base64.b64encode(b"%ff%fe:%ed%a0%80").decode(),
        "Basic " + base64.b64encode(b"m2m\x00:x").decode(),
        "Basic " + "A" * 20_000,
    ],
)
async def test_malformed_basic_credentials_are_invalid_client(server: Server, header: str) -> None:
    response = await post(server, TOKEN, headers={"Authorization": header})

    assert_invalid_client(response)


async def test_basic_header_with_non_ascii_bytes(server: Server) -> None:
    headers = [(b"Authorization", b"Basic \xff\xfe\xe9==")]
    response = await server.http.post(TOKEN, data=REQUESTS[TOKEN], headers=headers)

    assert_invalid_client(response)


async def test_other_authorization_schemes_do_not_authenticate_a_client(server: Server) -> None:
    tokens = await server.token_ok("m2m", grant_type="client_credentials")

    response = await post(server, INTROSPECT, headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert_invalid_client(response)


async def test_credentials_in_the_query_string_are_ignored(server: Server) -> None:
    # RFC 6749 section 2.3.1: client credentials MUST NOT be in the request URI.
    secret = server.clients["m2m-post"].secret or ""
    query = httpx.QueryParams({"client_id": "m2m-post", "client_secret": secret})

    response = await server.http.post(TOKEN, params=query, data=REQUESTS[TOKEN])

    assert_invalid_client(response)


async def test_clients_declared_in_code_authenticate_without_the_store(make_server: MakeServer) -> None:
    in_code = register("in-code", grant_types=["client_credentials"], scope="read", client_secret="chosen by a human")
    server = await make_server(stored=[], declared=[in_code])

    ok(await post(server, TOKEN, headers={"Authorization": basic("in-code", "chosen by a human")}))
    assert_invalid_client(await post(server, TOKEN, headers={"Authorization": basic("in-code", "chosen by a robot")}))
    assert await server.oauth.store.get_client("in-code") is None


async def test_declared_clients_take_precedence_over_the_store(make_server: MakeServer) -> None:
    stored = register("dup", grant_types=["client_credentials"], scope="stored")
    declared = register("dup", grant_types=["client_credentials"], scope="declared")
    server = await make_server(stored=[stored], declared=[declared])

    headers = {"Authorization": basic("dup", declared.secret or "")}
    assert (await post(server, TOKEN, headers=headers)).json()["scope"] == "declared"
    response = await post(server, TOKEN, headers={"Authorization": basic("dup", stored.secret or "")})
    assert_invalid_client(response)


# -- a Basic header seen to prove a generated secret is matched again by its digest ------------------------------


async def test_a_remembered_basic_header_still_follows_the_rules(make_server: MakeServer) -> None:
    server = await make_server(client_cache_ttl=0)
    headers = {"Authorization": basic("m2m", server.clients["m2m"].secret or "")}
    ok(await post(server, TOKEN, headers=headers))  # now remembered

    ok(await post(server, TOKEN, headers=headers, client_id="m2m"))
    assert_error(await post(server, TOKEN, headers=headers, client_id="m2m-post"), "invalid_request")
    secret = server.clients["m2m"].secret or ""
    assert_error(await post(server, TOKEN, headers=headers, client_secret=secret), "invalid_request")


async def test_a_remembered_basic_header_fails_once_the_client_is_deleted_or_given_a_new_secret(
    make_server: MakeServer,
) -> None:
    server = await make_server(client_cache_ttl=0)
    store = server.oauth.store
    old = {"Authorization": basic("m2m", server.clients["m2m"].secret or "")}
    ok(await post(server, TOKEN, headers=old))
    ok(await post(server, TOKEN, headers=old))

    assert await store.delete_client("m2m")
    assert_invalid_client(await post(server, TOKEN, headers=old))
    renewed = register("m2m", grant_types=["client_credentials"], scope="read")
    assert await store.create_client(renewed.client)
    assert_invalid_client(await post(server, TOKEN, headers=old))
    ok(await post(server, TOKEN, headers={"Authorization": basic("m2m", renewed.secret or "")}))


async def test_a_remembered_basic_header_fails_once_the_client_must_use_another_method(
    make_server: MakeServer,
) -> None:
    server = await make_server(client_cache_ttl=0)
    store = server.oauth.store
    secret = server.clients["m2m"].secret or ""
    headers = {"Authorization": basic("m2m", secret)}
    ok(await post(server, TOKEN, headers=headers))

    assert await store.delete_client("m2m")
    moved = replace(server.clients["m2m"].client, token_endpoint_auth_method="client_secret_post")
    assert await store.create_client(moved)
    response = await post(server, TOKEN, headers=headers)
    assert_error(response, "invalid_client", 401)
    assert "client_secret_post" in response.json()["error_description"]
