"""/userinfo (OIDC Core 5.3) and RFC 9068 JWT access tokens: verifiable from the JWKS, revocable at the store."""

from __future__ import annotations

import base64
import time

import jwt
import pytest

from asgi_oauth import crypto

from .conftest import ISSUER, MakeProvider, Provider, basic


async def test_userinfo_releases_the_claims_the_scopes_ask_for(provider: Provider) -> None:
    tokens = await provider.sign_in(scope="openid profile")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    answer = await provider.http.get("/oauth/userinfo", headers=bearer)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    # profile only: no email, and never what no scope asks for.
    assert answer.json() == {"sub": "u-alice", "name": "Alice Liddell", "preferred_username": "alice"}

    tokens = await provider.sign_in(scope="openid email")
    posted = await provider.http.post("/oauth/userinfo", data={"access_token": tokens["access_token"]})
    assert posted.json() == {"sub": "u-alice", "email": "alice@example.test", "email_verified": True}


async def test_userinfo_refusals_are_rfc_6750_challenges(provider: Provider) -> None:
    missing = await provider.http.get("/oauth/userinfo")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer realm=")
    assert "error=" not in missing.headers["www-authenticate"]
    bad = await provider.http.get("/oauth/userinfo", headers={"Authorization": "Bearer nope.nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]

    plain = await provider.sign_in(scope="read", nonce="")
    bearer = {"Authorization": f"Bearer {plain['access_token']}"}
    refused = await provider.http.get("/oauth/userinfo", headers=bearer)
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    tokens = await provider.sign_in()
    both = await provider.http.post(
        "/oauth/userinfo",
        data={"access_token": tokens["access_token"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert both.status_code == 400 and 'error="invalid_request"' in both.headers["www-authenticate"]
    assert (await provider.http.put("/oauth/userinfo")).status_code == 405

    rp = provider.clients["rp"]
    assert rp.secret is not None
    revoked = await provider.http.post(
        "/oauth/revoke", data={"token": tokens["access_token"]}, headers={"Authorization": basic("rp", rp.secret)}
    )
    assert revoked.status_code == 200
    gone = await provider.http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert gone.status_code == 401


@pytest.mark.parametrize("body", [b"access_token=a&access_token=b", b"access_token=a%00", b"access_token=\xff"])
async def test_a_malformed_userinfo_form_is_a_challenged_invalid_request(provider: Provider, body: bytes) -> None:
    """RFC 6750 section 3: a request the resource cannot read has no usable token, so it is challenged too."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = await provider.http.post("/oauth/userinfo", content=body, headers=form)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith('Bearer realm="')
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def introspect(provider: Provider, token: str) -> dict[str, object]:
    rs = provider.clients["rs"]
    assert rs.secret is not None
    answer = await provider.http.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": basic("rs", rs.secret)}
    )
    body: dict[str, object] = answer.json()
    return body


async def test_jwt_access_tokens_verify_from_the_jwks_and_stay_revocable(provider: Provider) -> None:
    tokens = await provider.sign_in("jwt-rp", scope="openid read offline_access", resource="https://api.test/v1")
    access = tokens["access_token"]
    claims = await provider.verify(access, audience="https://api.test/v1", typ="at+jwt")
    assert claims["iss"] == ISSUER and claims["sub"] == "u-alice" and claims["client_id"] == "jwt-rp"
    assert claims["scope"] == "offline_access openid read" and claims["jti"].count(".") == 1
    assert claims["exp"] > time.time() >= claims["iat"]
    # The ID token's at_hash is over the JWT as sent.
    id_claims = await provider.verify(tokens["id_token"], audience="jwt-rp")
    assert id_claims["at_hash"]

    # The store stays authoritative: introspection, the middleware and /userinfo all accept it ...
    assert (await introspect(provider, access))["active"] is True
    bearer = {"Authorization": f"Bearer {access}"}
    assert (await provider.http.get("/api/me", headers=bearer)).json() == {"sub": "u-alice", "client_id": "jwt-rp"}
    assert (await provider.http.get("/oauth/userinfo", headers=bearer)).status_code == 200

    # ... and refuse it once revoked, although its signature still verifies.
    rp = provider.clients["jwt-rp"]
    assert rp.secret is not None
    await provider.http.post(
        "/oauth/revoke", data={"token": access}, headers={"Authorization": basic("jwt-rp", rp.secret)}
    )
    assert (await introspect(provider, access)) == {"active": False}
    denied = await provider.http.get("/api/me", headers=bearer)
    assert denied.status_code == 401 and 'error="invalid_token"' in denied.headers["www-authenticate"]
    assert await provider.verify(access, audience="https://api.test/v1")

    # Refreshing keeps the format; revoking the refresh token ends the JWTs of its family.
    refreshed = await provider.token("jwt-rp", grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert jwt.get_unverified_header(refreshed["access_token"])["typ"] == "at+jwt"
    assert (await introspect(provider, refreshed["access_token"]))["active"] is True
    await provider.http.post(
        "/oauth/revoke",
        data={"token": refreshed["refresh_token"]},
        headers={"Authorization": basic("jwt-rp", rp.secret)},
    )
    assert (await introspect(provider, refreshed["access_token"])) == {"active": False}


async def test_a_tampered_or_forged_jwt_is_not_a_token(provider: Provider) -> None:
    tokens = await provider.sign_in("jwt-rp", scope="openid read")
    header, payload, signature = tokens["access_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for forged in (f"{header}.{payload}.{flipped}", f"{header}.{payload}.", "eyJ.eyJ.x"):
        assert (await introspect(provider, forged)) == {"active": False}
        assert (await provider.http.get("/api/me", headers={"Authorization": f"Bearer {forged}"})).status_code in (
            400,
            401,
        )


async def test_client_credentials_jwt_names_the_client_as_subject(provider: Provider) -> None:
    tokens = await provider.token("m2m", grant_type="client_credentials", scope="read")
    claims = await provider.verify(tokens["access_token"], audience=ISSUER, typ="at+jwt")
    assert claims["sub"] == "m2m" == claims["client_id"] and "id_token" not in tokens


@pytest.mark.parametrize("setting", [{"jwt_access_token_resources": "https://api.test/v1"}])
async def test_jwt_access_tokens_per_resource(make_provider: MakeProvider, setting: dict[str, str]) -> None:
    provider = await make_provider(jwt_access_token_clients="", **setting)
    opaque = await provider.sign_in(scope="openid read")
    assert opaque["access_token"].count(".") == 1
    signed = await provider.sign_in(scope="openid read", resource="https://api.test/v1")
    assert jwt.get_unverified_header(signed["access_token"])["typ"] == "at+jwt"


async def test_openapi_describes_the_openid_endpoints(provider: Provider) -> None:
    document = (await provider.http.get("/oauth/openapi.json")).json()
    assert set(document["paths"]["/userinfo"]) == {"get", "post"} and "get" in document["paths"]["/jwks"]


async def test_an_id_token_is_no_access_token(provider: Provider) -> None:
    tokens = await provider.sign_in("jwt-rp", scope="openid read")
    bearer = {"Authorization": f"Bearer {tokens['id_token']}"}
    assert (await provider.http.get("/api/me", headers=bearer)).status_code == 401
    assert (await provider.http.get("/oauth/userinfo", headers=bearer)).status_code == 401
    assert (await introspect(provider, tokens["id_token"])) == {"active": False}


@pytest.mark.parametrize(
    "junk",
    [
        "eyJ",
        "eyJ.e30.",
        "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOjF9.c2ln",
        "eyJ.%%%.x",
        "eyJ" + "A" * 20000 + ".e30.x",
        "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=") + ".c2ln",
    ],
)
async def test_a_malformed_jwt_has_no_family_and_is_refused_without_error(provider: Provider, junk: str) -> None:
    assert crypto.family_of(junk) is None
    answer = await provider.http.get("/api/me", headers={"Authorization": f"Bearer {junk}"})
    assert answer.status_code in (400, 401)
    assert (await introspect(provider, junk)) == {"active": False}
