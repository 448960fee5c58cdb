"""OpenID Connect's ``prompt=login`` on a pushed authorization request (RFC 9126): the browser carries only
``client_id`` and ``request_uri`` through the host's sign-in page, and the freshness marker beside them."""

from __future__ import annotations

import time

import pytest

from asgi_oauth.features.par import PushedAuthorizationRequests

from ..web.helpers import pkce_pair
from .conftest import CALLBACK, MakeProvider, Provider, redirect_params
from .test_id_tokens import back_from_login


async def pushed_login(provider: Provider, challenge: str, ask: dict[str, str] | None = None) -> dict[str, str]:
    """Push a request as ``rp`` that must sign in anew (``ask``, by default ``prompt=login``), open its
    ``request_uri``; the request the sign-in page's ``next`` brings back."""
    request = {"response_type": "code", "client_id": "rp", "redirect_uri": CALLBACK, "state": "st"}
    request |= {"scope": "openid profile", "nonce": "n-pushed", **(ask or {"prompt": "login"})}
    request |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    push = await provider.server.post("/oauth/par", request, client="rp")
    assert push.status_code == 201, push.text
    query = {"client_id": "rp", "request_uri": push.json()["request_uri"]}
    return back_from_login(await provider.http.get("/oauth/authorize", params=query, headers=provider.headers()))


@pytest.mark.parametrize("ask", [{"prompt": "login"}, {"max_age": "60"}])
async def test_a_new_sign_in_satisfies_prompt_login_on_a_pushed_request(
    make_provider: MakeProvider, ask: dict[str, str]
) -> None:
    provider = await make_provider(oauth_options={"features": [PushedAuthorizationRequests()]})
    provider.auth_time = time.time() - 100
    verifier, challenge = pkce_pair()
    back = await pushed_login(provider, challenge, ask)
    assert set(back) == {"client_id", "request_uri", "fresh_after"}  # the pushed parameters stay pushed
    provider.auth_time = time.time() + 1  # the host signed the user in anew
    page = await provider.http.get("/oauth/authorize", params=back, headers=provider.headers())
    assert page.status_code == 200, page.text  # the consent page, not the sign-in page again
    code = redirect_params(await provider.allow(page))["code"]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    tokens = await provider.token("rp", **exchange)
    claims = await provider.verify(tokens["id_token"], audience="rp")
    assert claims["auth_time"] == int(provider.auth_time) and claims["nonce"] == "n-pushed"


async def test_the_old_session_coming_back_is_login_required_not_a_loop(make_provider: MakeProvider) -> None:
    provider = await make_provider(oauth_options={"features": [PushedAuthorizationRequests()]})
    provider.auth_time = time.time() - 100
    back = await pushed_login(provider, pkce_pair()[1])
    stale = redirect_params(await provider.http.get("/oauth/authorize", params=back, headers=provider.headers()))
    assert stale["error"] == "login_required" and stale["state"] == "st"
    # That answered the request, as a code or a denial would: its request_uri is spent.
    provider.auth_time = time.time() + 1
    replayed = await provider.http.get("/oauth/authorize", params=back, headers=provider.headers())
    assert replayed.status_code == 400 and "already used" in replayed.text


async def test_a_forged_marker_beside_a_request_uri_does_not_count(make_provider: MakeProvider) -> None:
    provider = await make_provider(oauth_options={"features": [PushedAuthorizationRequests()]})
    provider.auth_time = time.time() - 100
    back = await pushed_login(provider, pkce_pair()[1])
    forged = {**back, "fresh_after": "n-pushed.AAAAAA.forged"}
    again = await provider.http.get("/oauth/authorize", params=forged, headers=provider.headers())
    assert again.status_code == 302 and again.headers["location"].startswith("/login?")  # sent to sign in again
