"""JWKSValidator: a resource server's check of JWT access tokens from the JWKS alone, and the 503s of an
OpenID provider whose store is down."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from asgi_oauth import JWKSValidator, OpenIDConnect, RedisStore, ValidationUnavailable

from ..web.helpers import build_server, settings_for
from .conftest import ISSUER, MakeProvider, Provider, oidc_of


def validator_for(provider: Provider, **options: Any) -> JWKSValidator:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=provider.server.app))
    return JWKSValidator(f"{ISSUER}/jwks", issuer=ISSUER, http=http, **options)


async def test_a_jwt_access_token_validates_from_the_jwks_alone(provider: Provider) -> None:
    tokens = await provider.sign_in("jwt-rp", scope="openid read", resource="https://api.test/v1")
    validator = validator_for(provider, audience="https://api.test/v1")
    seen = await validator.validate(tokens["access_token"])
    assert seen is not None and seen.sub == "u-alice" and seen.client_id == "jwt-rp"
    assert seen.resource == "https://api.test/v1" and seen.scope == "openid read" and seen.exp > time.time()
    # Not an access token (typ JWT), not for this audience, not a JWT at all: refused without a fetch storm.
    assert await validator.validate(tokens["id_token"]) is None
    other = await provider.sign_in("jwt-rp", scope="openid read", resource="https://other.test")
    assert await validator.validate(other["access_token"]) is None
    assert await validator.validate("opaque.token") is None
    await validator.aclose()


async def test_client_credentials_jwt_has_no_user(provider: Provider) -> None:
    tokens = await provider.token("m2m", grant_type="client_credentials", scope="read")
    validator = validator_for(provider)
    seen = await validator.validate(tokens["access_token"])
    assert seen is not None and seen.sub is None and seen.client_id == "m2m"
    await validator.aclose()


async def test_a_rotated_key_is_fetched_once_and_an_unknown_kid_is_not_refetched_at_once(
    make_provider: MakeProvider,
) -> None:
    provider = await make_provider()
    validator = validator_for(provider, min_refetch=3600)
    first = await provider.token("m2m", grant_type="client_credentials", scope="read")
    assert await validator.validate(first["access_token"]) is not None
    await oidc_of(provider.server.oauth).keys.rotate()
    second = await provider.token("m2m", grant_type="client_credentials", scope="read")
    # The new kid is unknown and the set was read less than min_refetch ago: refused, not refetched.
    assert await validator.validate(second["access_token"]) is None
    fresh = validator_for(provider)
    assert await fresh.validate(second["access_token"]) is not None
    assert await fresh.validate(first["access_token"]) is not None  # the old key is still published
    await validator.aclose()
    await fresh.aclose()


async def test_an_unreachable_jwks_is_unavailable_not_invalid(provider: Provider) -> None:
    tokens = await provider.token("m2m", grant_type="client_credentials", scope="read")
    validator = JWKSValidator("http://127.0.0.1:9/jwks", issuer=ISSUER, timeout=0.5)
    with pytest.raises(ValidationUnavailable):
        await validator.validate(tokens["access_token"])
    await validator.aclose()


async def test_a_store_down_answers_503_at_jwks_and_userinfo(unreachable_store: RedisStore) -> None:
    server = build_server(unreachable_store, settings_for(), password_verifier=None, features=[OpenIDConnect()])
    jwks = await server.http.get("/oauth/jwks")
    assert jwks.status_code == 503 and jwks.json()["error"] == "temporarily_unavailable"
    info = await server.http.get("/oauth/userinfo", headers={"Authorization": "Bearer a.b"})
    assert info.status_code == 401  # junk never reaches the store
    family_shaped = "A" * 22 + "." + "B" * 43
    info = await server.http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {family_shaped}"})
    assert info.status_code == 503
    await server.http.aclose()
