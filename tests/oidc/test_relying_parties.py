"""Real relying-party libraries against ``asgi-oauth serve`` on two workers and a real Redis.

Authlib's OpenID Connect client (the Starlette integration's app, as a web app would register it) discovers
the provider, signs a user in through the demo's sign-in and consent pages, and verifies the ID token against
the JWKS; PyJWT's ``PyJWKClient`` verifies the RFC 9068 access token, and so does a resource server's
:class:`~asgi_oauth.JWKSValidator`. A key rotated in the store meanwhile keeps every earlier token valid.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from authlib.integrations.starlette_client import OAuth

from asgi_oauth import JWKSValidator, KeyRing, OIDCSettings
from asgi_oauth.features.oidc.redis import RedisSigningKeys

from ..conftest import open_redis_store
from ..serving import Server, banner_value, clean_env, hidden_fields, serving

SECRET_KEY = "oidc-served-signing-key-0123456789abcdefghij"
SCOPE = "openid profile email offline_access read"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Server, str, str, str]]:
    prefix = f"oidc{uuid.uuid4().hex[:8]}"
    env = clean_env(
        ASGI_OAUTH_DEMO_USERS="alice:wonderland",
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=prefix,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_ENABLE_OIDC="1",
        ASGI_OAUTH_JWT_ACCESS_TOKEN_CLIENTS="demo-client",
    )
    with serving(tmp_path_factory.mktemp("oidc"), env, "--workers", "2", workers=2) as server:
        yield server, banner_value(server.stdout, "client_secret"), prefix, redis_url


async def browser_signs_in(base_url: str, url: str) -> str:
    """What a person does in the browser: sign in at the demo's page and allow; the callback URL reached."""
    async with httpx.AsyncClient(timeout=10) as browser:
        to_login = await browser.get(url)
        assert to_login.status_code == 302, to_login.text
        login_url = urljoin(url, to_login.headers["location"])
        form = await browser.get(login_url)
        fields = hidden_fields(form.text) | {"username": "alice", "password": "wonderland"}
        signed_in = await browser.post(f"{base_url}/login", data=fields)
        assert signed_in.status_code == 303
        consent = await browser.get(urljoin(base_url, signed_in.headers["location"]))
        assert consent.status_code == 200 and "Sign you in with your account" in consent.text
        approved = await browser.post(
            f"{base_url}/oauth/authorize", data={**hidden_fields(consent.text), "decision": "allow"}
        )
        assert approved.status_code == 303
        location: str = approved.headers["location"]
        return location


def relying_party(server: Server, secret: str) -> Any:
    oauth = OAuth()
    return oauth.register(
        "asgi",
        client_id="demo-client",
        client_secret=secret,
        server_metadata_url=f"{server.base_url}/oauth/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )


async def test_authlib_signs_in_and_pyjwt_verifies_the_access_token(provider: tuple[Server, str, str, str]) -> None:
    server, secret, prefix, redis_url = provider
    async with httpx.AsyncClient(timeout=10) as http:
        await sign_in_and_verify(http, server, secret, prefix, redis_url)


async def sign_in_and_verify(http: httpx.AsyncClient, server: Server, secret: str, prefix: str, redis_url: str) -> None:
    issuer = f"{server.base_url}/oauth"
    # Discovery: the issuer-relative and the path-inserted URLs serve the same document.
    relative = await http.get(f"{issuer}/.well-known/openid-configuration")
    inserted = await http.get(f"{server.base_url}/.well-known/openid-configuration/oauth")
    assert relative.content == inserted.content and relative.json()["jwks_uri"] == f"{issuer}/jwks"

    rp = relying_party(server, secret)
    callback = f"{server.base_url}/callback"
    start = await rp.create_authorization_url(redirect_uri=callback)
    landed = await browser_signs_in(server.base_url, start["url"])
    back = {k: v[0] for k, v in parse_qs(urlsplit(landed).query).items()}
    assert back["state"] == start["state"] and back["iss"] == issuer

    token = await rp.fetch_access_token(redirect_uri=callback, code=back["code"], code_verifier=start["code_verifier"])
    assert token["refresh_token"]  # offline_access
    user = await rp.parse_id_token(token, nonce=start["nonce"])  # signature against the JWKS, iss, aud, nonce, at_hash
    assert user["sub"] == "alice" and user["iss"] == issuer and user["aud"] == "demo-client"
    assert user["auth_time"] <= user["iat"]
    info = await rp.userinfo(token=token)
    assert info == {"sub": "alice", "name": "Alice", "preferred_username": "alice", "email": "alice@example.com",
                    "email_verified": False}  # fmt: skip

    # The access token is an RFC 9068 JWT: PyJWT verifies it from the JWKS alone.
    access = token["access_token"]
    signing_key = jwt.PyJWKClient(f"{issuer}/jwks").get_signing_key_from_jwt(access)
    claims = jwt.decode(access, signing_key, algorithms=["RS256"], audience=issuer, issuer=issuer)
    assert claims["sub"] == "alice" and claims["client_id"] == "demo-client"
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
    me = await http.get(f"{server.base_url}/api/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"

    # A resource server without the store validates it from the JWKS too.
    validator = JWKSValidator(f"{issuer}/jwks", issuer=issuer)
    seen = await validator.validate(access)
    assert seen is not None and seen.sub == "alice" and "read" in seen.scope.split()

    # Rotation in the store (as another worker, or an operator's script, would do it).
    async with open_redis_store(redis_url, key_prefix=prefix) as store:
        new_key = await KeyRing(OIDCSettings(), RedisSigningKeys(store.parts())).rotate()
    kids = [key["kid"] for key in (await http.get(f"{issuer}/jwks")).json()["keys"]]
    assert kids[0] == new_key.kid and claims and jwt.get_unverified_header(access)["kid"] in kids
    # Tokens signed before the rotation stay valid for every party until they expire.
    assert (await rp.parse_id_token(token, nonce=start["nonce"]))["sub"] == "alice"
    fresh_client_key = jwt.PyJWKClient(f"{issuer}/jwks").get_signing_key_from_jwt(access)
    assert jwt.decode(access, fresh_client_key, algorithms=["RS256"], audience=issuer, issuer=issuer)["sub"] == "alice"
    after_rotation = JWKSValidator(f"{issuer}/jwks", issuer=issuer)
    assert await after_rotation.validate(access) is not None
    await after_rotation.aclose()

    # Revocation: the store-backed middleware and introspection refuse at once; the JWKS-only validator cannot
    # see it (documented), so it keeps accepting until the token expires.
    revoked = await http.post(f"{issuer}/revoke", data={"token": access}, auth=("demo-client", secret))
    assert revoked.status_code == 200
    refused = await http.get(f"{server.base_url}/api/me", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    inactive = await http.post(f"{issuer}/introspect", data={"token": access}, auth=("demo-client", secret))
    assert inactive.json() == {"active": False}
    assert await validator.validate(access) is not None
    await validator.aclose()

    # Refresh: new tokens, a new ID token for the same user.
    refreshed = await rp.fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
    again = jwt.decode(
        refreshed["id_token"],
        jwt.PyJWKClient(f"{issuer}/jwks").get_signing_key_from_jwt(refreshed["id_token"]),
        algorithms=["RS256"],
        audience="demo-client",
        issuer=issuer,
    )
    assert again["sub"] == "alice" and again["auth_time"] == user["auth_time"]


def test_tokens_and_keys_never_reach_the_logs(provider: tuple[Server, str, str, str]) -> None:
    server = provider[0]
    logs = server.stdout + server.stderr
    assert "eyJ" not in logs and "BEGIN PRIVATE KEY" not in logs and '"d":' not in logs
