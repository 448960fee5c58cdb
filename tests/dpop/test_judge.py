"""The judge of DPoP (RFC 9449), which nobody here wrote: panva's ``openid-client``, as a public client holding a
DPoP key, against ``asgi-oauth serve`` (two workers on Redis, ``ASGI_OAUTH_FEATURES=dpop``).

alice's browser (played with httpx) asks for a code bound to the key (``dpop_jkt``, section 10: the key's RFC 7638
thumbprint, which openid-client computes too); openid-client redeems it with a proof, calls the demo's ``/api/me``
with the DPoP-bound token, refreshes with a proof and calls ``/api/me`` again; the new token shown as a Bearer token
is refused, and so is the bound refresh token without a proof. With server nonces on (sections 8 and 9)
openid-client's first proofs at the token endpoint and at the resource are answered ``use_dpop_nonce``, and its own
retries, with the nonce, get the tokens and alice's answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from asgi_oauth.crypto import b64url, new_jti, pkce_challenge
from asgi_oauth.dpop.proof import thumbprint

from ..npm import run_judge
from ..serving import Server, clean_env, demo_sign_in, run_cli, serving

HERE = Path(__file__).parent
REDIRECT_URI = "http://127.0.0.1:9/cb"
SCOPE = "read profile"
STEPS = ["token", "api", "refresh", "api_after_refresh", "bearer", "refresh_without_dpop"]

pytestmark = pytest.mark.slow


def es256_key() -> dict[str, str]:
    """A fresh P-256 private key as a JWK, the DPoP key openid-client signs its proofs with."""
    numbers = ec.generate_private_key(ec.SECP256R1()).private_numbers()
    public = numbers.public_numbers
    member = {"x": public.x, "y": public.y, "d": numbers.private_value}
    return {"kty": "EC", "crv": "P-256", **{name: b64url(n.to_bytes(32, "big")) for name, n in member.items()}}


def sign_in(server: Server, client_id: str, verifier: str, state: str, jkt: str) -> str:
    """alice signs in and consents in a browser to a code bound to the key ``jkt``: the URL she is sent back to."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": state,
        "code_challenge": pkce_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
        "dpop_jkt": jkt,
    }
    return demo_sign_in(server, query)


def judged(
    tmp_path: Path, redis_url: str, key_prefix: str, api_host: str = "127.0.0.1", **settings: str
) -> list[dict[str, Any]]:
    """Serve with DPoP on (and ``settings``), let alice sign in, run the judge: its lines, every step checked.
    The judge calls ``/api/me`` at ``api_host`` (the same server, reached under another name if given)."""
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_SECRET_KEY="dpop-judge-" + "k" * 32,
        ASGI_OAUTH_DEMO_USERS="alice:wonderland",
        ASGI_OAUTH_FEATURES="dpop",
        **settings,
    )
    created = run_cli(
        *("clients", "create", "--name", "DPoP judge", "--public"),
        *("--grant-type", "authorization_code", "refresh_token", "--redirect-uri", REDIRECT_URI, "--scope", SCOPE),
        env=env,
    )
    assert created.returncode == 0, created.stderr
    client_id = json.loads(created.stdout)["client_id"]
    key = es256_key()
    jkt = thumbprint(key)
    with serving(tmp_path / "serve", env, workers=2) as server:
        metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server/oauth").json()
        assert "ES256" in metadata["dpop_signing_alg_values_supported"]
        verifier, state = new_jti() * 3, new_jti()
        callback = sign_in(server, client_id, verifier, state, jkt)
        api_url = f"{server.base_url.replace('127.0.0.1', api_host)}/api/me"
        argv = [server.issuer, client_id, callback, verifier, state, api_url, json.dumps(key), jkt]
        steps: list[dict[str, Any]] = run_judge(HERE / "dpop_judge.mjs", *argv)
    for step in steps:
        print("openid-client DPoP judge:", json.dumps(step))
    assert [step["step"] for step in steps] == STEPS
    assert all(step["ok"] for step in steps), steps
    token, api, refresh, api_after, bearer, unbound = steps
    for issued in (token, refresh):
        assert issued["status"] == 200 and issued["token_type"] == "dpop" and issued["refresh_token"]
        assert set(issued["scope"].split()) == set(SCOPE.split())
        (last,) = [exchange for exchange in issued["exchanges"] if exchange["status"] == 200]
        assert last["path"] == "/oauth/token" and last["proof"]["htu"] == f"{server.issuer}/token"
        assert last["proof"]["htm"] == "POST" and last["proof"]["ath"] is None
    assert refresh["rotated"]
    for call in (api, api_after):
        assert call["status"] == 200 and call["sub"] == "alice"
        (last,) = [exchange for exchange in call["exchanges"] if exchange["status"] == 200]
        assert last["scheme"] == "DPoP" and last["proof"]["htm"] == "GET"
        assert last["proof"]["htu"] == api_url and last["proof"]["ath"]
    assert bearer["status"] == 401  # section 7.2: the challenge names the DPoP scheme
    assert bearer["www_authenticate"].startswith("DPoP ") and 'error="invalid_token"' in bearer["www_authenticate"]
    assert unbound["status"] == 400 and unbound["error"] == "invalid_grant"
    return steps


def test_openid_client_gets_and_uses_dpop_bound_tokens(
    tmp_path: Path, redis_url: str, key_prefix: str, openid_client: Path
) -> None:
    token, *_ = judged(tmp_path, redis_url, key_prefix)
    (exchange,) = token["exchanges"]  # no nonces: the first proof is taken
    assert exchange["proof"]["nonce"] is None


def test_openid_client_retries_with_the_servers_nonce(
    tmp_path: Path, redis_url: str, key_prefix: str, openid_client: Path
) -> None:
    """The resource is reached as ``localhost``: another origin to openid-client, which keeps nonces per origin, so
    it meets ``use_dpop_nonce`` twice, at the token endpoint (a 400) and at the resource (a 401, section 9)."""
    steps = judged(tmp_path, redis_url, key_prefix, api_host="localhost", ASGI_OAUTH_DPOP_NONCES="true")
    token, api, refresh, api_after, *_ = steps
    refused, retried = token["exchanges"]
    assert refused["status"] == 400 and refused["proof"]["nonce"] is None and refused["dpop_nonce"]
    assert json.loads(refused["body"])["error"] == "use_dpop_nonce"
    assert retried["status"] == 200 and retried["proof"]["nonce"] == refused["dpop_nonce"]
    (refreshed,) = refresh["exchanges"]  # openid-client kept the nonce it was given
    assert refreshed["status"] == 200 and refreshed["proof"]["nonce"] == refused["dpop_nonce"]
    challenged, called = api["exchanges"]
    assert challenged["status"] == 401 and challenged["proof"]["nonce"] is None
    assert (
        challenged["www_authenticate"].startswith("DPoP ")
        and 'error="use_dpop_nonce"' in challenged["www_authenticate"]
    )
    assert called["status"] == 200 and called["proof"]["nonce"] == challenged["dpop_nonce"]
    (again,) = api_after["exchanges"]
    assert again["status"] == 200 and again["proof"]["nonce"] == challenged["dpop_nonce"]
