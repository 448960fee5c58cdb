"""OpenID Connect's code flow in-process: ID tokens, nonce, prompt, max_age, offline_access, discovery."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from asgi_oauth import OAuthServer, Store
from asgi_oauth.features.oidc.protocol import SCOPE_DESCRIPTIONS

from ..web.helpers import build_server, pkce_pair, settings_for
from .conftest import CALLBACK, ISSUER, MakeProvider, Provider, redirect_params


def login_query(response: httpx.Response) -> dict[str, str]:
    """The query of the redirect to the host's sign-in page."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def back_from_login(response: httpx.Response) -> dict[str, str]:
    """The authorization request the sign-in page's ``next`` brings back."""
    return {k: v[0] for k, v in parse_qs(urlsplit(login_query(response)["next"]).query).items()}


def at_hash(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16]).rstrip(b"=").decode()


async def test_metadata_lists_openid_connect_only_when_enabled(store: Store, make_provider: MakeProvider) -> None:
    plain = build_server(store, settings_for(), password_verifier=None)
    document = (await plain.http.get("/oauth/.well-known/openid-configuration")).json()
    for key in ("userinfo_endpoint", "jwks_uri", "id_token_signing_alg_values_supported", "subject_types_supported"):
        assert key not in document
    assert "/userinfo" not in str(document) and (await plain.http.get("/oauth/jwks")).status_code == 404
    await plain.http.aclose()

    provider = await make_provider()
    oauth = await provider.http.get("/oauth/.well-known/oauth-authorization-server")
    openid = await provider.http.get("/oauth/.well-known/openid-configuration")
    assert oauth.content == openid.content  # one document, RFC 8414 and OpenID Connect Discovery alike
    document = openid.json()
    assert document["issuer"] == ISSUER
    assert document["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert document["jwks_uri"] == f"{ISSUER}/jwks"
    assert document["response_types_supported"] == ["code"]
    assert document["subject_types_supported"] == ["public"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["scopes_supported"] == ["openid", "profile", "email", "address", "phone", "offline_access"]
    assert {"sub", "iss", "aud", "nonce", "auth_time", "email", "name"} <= set(document["claims_supported"])
    assert document["request_uri_parameter_supported"] is False
    assert document["prompt_values_supported"] == ["none", "login", "consent", "select_account"]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_code_flow_issues_an_id_token_that_verifies_against_the_jwks(
    make_provider: MakeProvider, alg: str
) -> None:
    provider = await make_provider(oidc_signing_alg=alg)
    provider.auth_time = time.time() - 30
    tokens = await provider.sign_in(nonce="abc-123")
    claims = await provider.verify(tokens["id_token"], audience="rp")
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == alg
    assert claims["iss"] == ISSUER and claims["sub"] == "u-alice" and claims["aud"] == "rp" and claims["azp"] == "rp"
    assert claims["nonce"] == "abc-123"
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert claims["auth_time"] == int(provider.auth_time)
    assert claims["iat"] <= time.time() < claims["exp"]
    # OIDC Core section 11: no offline_access, no refresh token.
    assert "refresh_token" not in tokens


async def test_offline_access_gives_a_refresh_token_and_refreshes_carry_a_new_id_token(provider: Provider) -> None:
    provider.auth_time = time.time() - 5
    tokens = await provider.sign_in(scope="openid offline_access")
    assert tokens["refresh_token"]
    refreshed = await provider.token("rp", grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    claims = await provider.verify(refreshed["id_token"], audience="rp")
    # OIDC Core 12.2: same user and client, the original auth_time, no nonce.
    assert claims["sub"] == "u-alice" and claims["auth_time"] == int(provider.auth_time)
    assert "nonce" not in claims and claims["at_hash"] == at_hash(refreshed["access_token"])


async def test_without_openid_the_flow_is_plain_oauth(provider: Provider) -> None:
    tokens = await provider.sign_in(scope="read", nonce="")
    assert "id_token" not in tokens and tokens["refresh_token"]


async def test_nonce_is_required(provider: Provider) -> None:
    back = redirect_params(await provider.authorize(nonce=""))
    assert back["error"] == "invalid_request" and "nonce" in back["error_description"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "sometimes"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.test/req"}, "request_uri_not_supported"),
    ],
)
async def test_malformed_or_unsupported_openid_parameters_are_redirected_errors(
    provider: Provider, params: dict[str, str], error: str
) -> None:
    back = redirect_params(await provider.authorize(**params))
    assert back["error"] == error and back["state"] == "st" and back["iss"] == ISSUER


async def test_prompt_none_without_a_session_is_login_required(provider: Provider) -> None:
    provider.user = None
    back = redirect_params(await provider.authorize(prompt="none"))
    assert back["error"] == "login_required" and back["state"] == "st"


async def test_prompt_none_without_consent_is_consent_required_and_first_party_passes(provider: Provider) -> None:
    back = redirect_params(await provider.authorize(prompt="none"))
    assert back["error"] == "consent_required"
    tokens = await provider.sign_in("rp-first", prompt="none")
    assert (await provider.verify(tokens["id_token"], audience="rp-first"))["sub"] == "u-alice"


async def test_prompt_consent_asks_even_a_first_party_client(provider: Provider) -> None:
    page = await provider.authorize("rp-first", prompt="consent")
    assert page.status_code == 200 and "wants to access your account" in page.text


async def test_prompt_login_sends_a_signed_in_user_to_sign_in_again(provider: Provider) -> None:
    provider.auth_time = time.time() - 100
    to_login = await provider.authorize(prompt="login", login_hint="alice@example.test")
    login = login_query(to_login)
    assert login["prompt"] == "login" and login["login_hint"] == "alice@example.test"
    back = back_from_login(to_login)
    assert back["fresh_after"] and back["prompt"] == "login"
    # Coming back with the old session: the host did not sign the user in again; no loop, an error.
    stale = redirect_params(await provider.http.get("/oauth/authorize", params=back, headers=provider.headers()))
    assert stale["error"] == "login_required"
    # Coming back after a new sign-in: the consent page, then an ID token with the new auth_time.
    provider.auth_time = time.time() + 1
    page = await provider.http.get("/oauth/authorize", params=back, headers=provider.headers())
    assert page.status_code == 200, page.text
    code = redirect_params(await provider.allow(page))["code"]
    assert code


async def test_a_forged_freshness_marker_does_not_count(provider: Provider) -> None:
    provider.auth_time = time.time() - 100
    to_login = await provider.authorize(prompt="login", fresh_after="n-0S6_WzA2Mj.AAAAAA.forged")
    assert to_login.status_code == 302 and to_login.headers["location"].startswith("/login?")


@pytest.mark.parametrize("nonce", ["n\u00f6nce", "\u202e\U0001f600 \u00a0x", "\u4e2d" * 512])
async def test_any_unicode_nonce_survives_the_sign_in_hand_off_into_the_id_token(
    provider: Provider, nonce: str
) -> None:
    """The nonce is the relying party's own string (OIDC Core 3.1.2.1 puts no bound on its characters): a
    request that must sign in first still goes to the sign-in page, and the ID token carries it unchanged."""
    provider.user = None
    verifier, challenge = pkce_pair()
    back = back_from_login(await provider.authorize(nonce=nonce, code_challenge=challenge))
    assert back["nonce"] == nonce and back["fresh_after"].isascii()
    provider.user, provider.auth_time = "alice", time.time() + 1
    page = await provider.http.get("/oauth/authorize", params=back, headers=provider.headers())
    code = redirect_params(await provider.allow(page))["code"]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    tokens = await provider.token("rp", **exchange)
    assert (await provider.verify(tokens["id_token"], audience="rp"))["nonce"] == nonce


async def test_max_age_sends_a_stale_session_to_sign_in_and_accepts_a_fresh_one(provider: Provider) -> None:
    provider.auth_time = time.time() - 600
    assert (await provider.authorize(max_age="60")).headers["location"].startswith("/login?")
    back = redirect_params(await provider.authorize(max_age="60", prompt="none"))
    assert back["error"] == "login_required"
    provider.auth_time = time.time() - 5
    tokens = await provider.sign_in(max_age="60")
    assert (await provider.verify(tokens["id_token"], audience="rp"))["auth_time"] == int(provider.auth_time)


async def test_max_age_zero_asks_every_time_and_a_sign_in_for_this_request_satisfies_it(provider: Provider) -> None:
    provider.auth_time = time.time() - 2
    back = back_from_login(await provider.authorize(max_age="0"))
    provider.auth_time = time.time()
    page = await provider.http.get("/oauth/authorize", params=back, headers=provider.headers())
    assert page.status_code == 200, page.text


async def test_max_age_without_a_reported_auth_time_is_login_required_after_one_sign_in(provider: Provider) -> None:
    to_login = await provider.authorize(max_age="60")
    back = back_from_login(to_login)  # unknown auth_time: sign in (again) ...
    again = redirect_params(await provider.http.get("/oauth/authorize", params=back, headers=provider.headers()))
    assert again["error"] == "login_required"  # ... and still unknown: an error, never a loop


async def test_openid_off_keeps_openid_a_plain_scope(store: Store) -> None:
    from .conftest import clients, resolve_user

    registered = clients()
    for client in registered:
        await store.create_client(client.client)
    server = build_server(store, settings_for(), registered, password_verifier=None, user_resolver=resolve_user)
    provider = Provider(server, clients={c.client_id: c for c in registered})
    tokens = await provider.sign_in("rp-first", scope="openid read", nonce="")
    assert "id_token" not in tokens and tokens["scope"] == "openid read" and tokens["refresh_token"]
    await server.http.aclose()
    assert isinstance(server.oauth, OAuthServer) and server.oauth.features == ()


async def test_the_consent_page_says_what_each_openid_scope_allows(make_provider: MakeProvider) -> None:
    """The host described none of them: the server's own descriptions, never bare scope names; the host's
    wins where it gives one."""
    scope = "openid profile email offline_access"
    plain = await (await make_provider()).authorize(scope=scope)
    assert plain.status_code == 200, plain.text
    for name, description in SCOPE_DESCRIPTIONS.items():
        if name in scope.split():
            assert f"<strong>{description}</strong> <code>{name}</code>" in plain.text
    assert "<li><code>" not in plain.text  # no scope shown by its name alone

    provider = await make_provider(oauth_options={"scope_descriptions": {"email": "Write to you"}})
    described = await provider.authorize(scope=scope)
    assert "<strong>Write to you</strong> <code>email</code>" in described.text
    assert f"<strong>{SCOPE_DESCRIPTIONS['openid']}</strong> <code>openid</code>" in described.text
