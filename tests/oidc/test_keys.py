"""Signing keys: configured (PEM, JWK) or generated into the store, published without private members, rotated
with an overlap so tokens signed by the previous key keep verifying until they expire."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from asgi_oauth import OAuthServer, OIDCSettings, OpenIDConnect, SettingsError, Store

from ..web.helpers import settings_for
from .conftest import MakeProvider, oidc_of

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def ec_jwk(kid: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return json.dumps({**ECAlgorithm.to_jwk(key, as_dict=True), "kid": kid})


async def test_generated_keys_rotate_with_an_overlap(make_provider: MakeProvider) -> None:
    clock = Clock()
    provider = await make_provider(oauth_options={"clock": clock})
    keys = oidc_of(provider.server.oauth).keys
    assert keys.generated
    old = await provider.sign_in()
    old_kid = jwt.get_unverified_header(old["id_token"])["kid"]
    assert [k["kid"] for k in (await provider.jwks())["keys"]] == [old_kid]

    new_key = await keys.rotate()
    published = [k["kid"] for k in (await provider.jwks())["keys"]]
    assert published == [new_key.kid, old_kid]
    new = await provider.sign_in()
    assert jwt.get_unverified_header(new["id_token"])["kid"] == new_key.kid
    # The token signed before the rotation still verifies against the published set.
    assert (await provider.verify(old["id_token"], audience="rp"))["sub"] == "u-alice"

    # Past the overlap (the longest an old token lives) the old key leaves the set.
    clock.now += keys.overlap() + 1
    assert [k["kid"] for k in (await provider.jwks())["keys"]] == [new_key.kid]


async def test_workers_agree_on_one_generated_key(store: Store) -> None:
    settings = settings_for(enable_oidc=True)
    first, second = OAuthServer(settings, store=store), OAuthServer(settings, store=store)
    one, two = await oidc_of(first).keys.jwks(), await oidc_of(second).keys.jwks()
    assert one == two and len(one["keys"]) == 1


async def test_jwks_never_holds_private_members_and_logs_hold_no_key(
    make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = await make_provider()
    await provider.sign_in()
    for key in (await provider.jwks())["keys"]:
        assert not PRIVATE_MEMBERS & set(key) and key["use"] == "sig" and key["alg"] == "RS256"
    keys = oidc_of(provider.server.oauth).keys
    signer = (await keys.current()).signer
    private = signer.private_jwk()["d"]
    assert private not in caplog.text and private not in repr(signer)
    assert "generated a RS256 key into the store" in caplog.text


async def test_configured_pem_and_jwk_keys_sign_and_verify(make_provider: MakeProvider) -> None:
    pem, jwk = rsa_pem(), ec_jwk("ec-1")
    provider = await make_provider(oidc_signing_keys=(pem, jwk))
    tokens = await provider.sign_in()
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256"
    published = (await provider.jwks())["keys"]
    assert [k["kty"] for k in published] == ["RSA", "EC"] and published[1]["kid"] == "ec-1"
    assert published[0]["kid"] == header["kid"]  # an RFC 7638 thumbprint for the PEM key
    assert await provider.verify(tokens["id_token"], audience="rp")

    es = await make_provider(oidc_signing_keys=(pem, jwk), oidc_signing_alg="ES256")
    es_tokens = await es.sign_in()
    assert jwt.get_unverified_header(es_tokens["id_token"])["kid"] == "ec-1"
    # The old RSA key, kept after the new EC key, still verifies what it signed: rotation by configuration.
    assert await es.verify(tokens["id_token"], audience="rp")


def test_keys_from_the_environment_are_split_into_pem_blocks_and_jwk_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    pems = rsa_pem() + rsa_pem()
    monkeypatch.setenv("ASGI_OAUTH_OIDC_SIGNING_KEYS", pems)
    assert len(OIDCSettings().oidc_signing_keys) == 2
    monkeypatch.setenv("ASGI_OAUTH_OIDC_SIGNING_KEYS", f"[{ec_jwk('a')}, {ec_jwk('b')}]")
    assert len(OIDCSettings().oidc_signing_keys) == 2


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (("not a key",), "key 1: a signing key must be PEM or a JWK"),
        (('{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}',), "key 1: a JWK signing key must be a private key"),
        (("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",), "key 1: a PEM signing key must be a PRIVATE"),
    ],
)
def test_bad_keys_stop_start_up_naming_the_setting_and_no_key_material(
    store: Store, keys: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SettingsError, match="ASGI_OAUTH_OIDC_SIGNING_KEYS: " + message):
        OAuthServer(settings_for(), store=store, features=[OpenIDConnect(OIDCSettings(oidc_signing_keys=keys))])


def test_a_key_for_another_algorithm_only_is_refused(store: Store) -> None:
    with pytest.raises(SettingsError, match="no key signs ES256"):
        es256 = OIDCSettings(oidc_signing_keys=(rsa_pem(),), oidc_signing_alg="ES256")
        OAuthServer(settings_for(), store=store, features=[OpenIDConnect(es256)])


@pytest.mark.parametrize("name", ["jwt_access_token_clients", "jwt_access_token_resources", "oidc_signing_keys"])
def test_openid_settings_without_openid_connect_are_refused(
    name: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        f"ASGI_OAUTH_{name.upper()}", "https://api.test" if name == "jwt_access_token_resources" else "x"
    )
    expected = f"ASGI_OAUTH_{name.upper()}: the oidc feature is off .*ENABLE_OIDC=true"
    with pytest.raises(SettingsError, match=expected):
        OAuthServer(settings_for(), store=store)
