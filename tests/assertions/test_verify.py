"""The assertion checks on their own (``features/assertions/verify.py``): no store, no HTTP, a clock of our own."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import jwt
import pytest

from asgi_oauth.features.assertions.names import ASYMMETRIC, SYMMETRIC, KeySetError
from asgi_oauth.features.assertions.verify import (
    AssertionRefused,
    Expected,
    KeyUnknown,
    VerifyingKey,
    derived_keys,
    fits,
    key_set,
    peek,
    verify,
)

from .signing import AUDIENCE, Signer, unsigned

EXPECTED = Expected(issuer="c", subject="c", audiences=frozenset({AUDIENCE}), algorithms=frozenset(ASYMMETRIC))


def keys_of(*signers: Signer, **changes: Any) -> tuple[VerifyingKey, ...]:
    return key_set({"keys": [signer.jwk | changes for signer in signers]})


def test_a_key_verifies_only_the_algorithm_it_was_made_for() -> None:
    rsa, p256 = keys_of(Signer.new("RS256"))[0], keys_of(Signer.new("ES256"))[0]
    assert fits(rsa, "RS256") and fits(rsa, "PS512") and not fits(rsa, "ES256") and not fits(rsa, "EdDSA")
    assert fits(p256, "ES256") and not fits(p256, "ES384") and not fits(p256, "RS256")
    named = key_set({"keys": [Signer.new("RS256").jwk | {"alg": "PS256"}]})[0]
    assert fits(named, "PS256") and not fits(named, "RS256")  # its own alg, and only that
    encrypting = key_set({"keys": [Signer.new("RS256").jwk | {"use": "enc"}]})[0]
    wrapping = key_set({"keys": [Signer.new("RS256").jwk | {"key_ops": ["wrapKey"]}]})[0]
    assert not fits(encrypting, "RS256") and not fits(wrapping, "RS256")


def test_an_rsa_key_under_an_ec_kid_does_not_verify_an_ec_signature() -> None:
    ec = Signer.new("ES256", kid="shared")
    rsa = Signer.new("RS256", kid="shared")
    with pytest.raises(KeyUnknown):
        verify(peek(ec.assertion("c")), keys_of(rsa), EXPECTED, time.time())


def test_crit_headers_and_malformed_parts_are_refused() -> None:
    signer = Signer.new("ES256")
    keys = keys_of(signer)
    header, payload, signature = signer.assertion("c").split(".")
    with pytest.raises(AssertionRefused, match="not a signed JWT"):
        peek(f"{header}.{payload[:-1]}!.{signature}")
    with pytest.raises(AssertionRefused, match="not a signed JWT"):
        peek(f"{header}.{payload}")
    array = base64.urlsafe_b64encode(b"[1]").rstrip(b"=").decode()
    with pytest.raises(AssertionRefused, match="JSON objects"):
        peek(f"{array}.{payload}.{signature}")
    crit = unsigned({"iss": "c"}, {"alg": "ES256", "crit": ["exp"], "kid": signer.kid})
    with pytest.raises(AssertionRefused, match="crit"):
        verify(peek(crit), keys, EXPECTED, time.time())


def test_without_a_kid_only_a_few_keys_are_tried() -> None:
    signers = [Signer.new("ES256") for _ in range(5)]
    anonymous = key_set({"keys": [{k: v for k, v in s.jwk.items() if k != "kid"} for s in signers]})
    now = int(time.time())
    claims = {"iss": "c", "sub": "c", "aud": AUDIENCE, "exp": now + 60, "jti": "j"}
    token = jwt.encode(claims, signers[0].private, algorithm="ES256")  # no kid in the header
    with pytest.raises(AssertionRefused, match="kid"):
        verify(peek(token), anonymous, EXPECTED, now)
    assert verify(peek(token), anonymous[:4], EXPECTED, now)["jti"] == "j"


def test_times_are_judged_by_the_callers_clock() -> None:
    signer = Signer.new("EdDSA")
    assertion = peek(signer.assertion("c"))
    now = time.time()
    assert verify(assertion, keys_of(signer), EXPECTED, now)["iss"] == "c"
    with pytest.raises(AssertionRefused, match="expired"):
        verify(assertion, keys_of(signer), EXPECTED, now + 200)  # 60 s lifetime + 30 s leeway passed
    with pytest.raises(AssertionRefused, match="iat"):
        verify(assertion, keys_of(signer), EXPECTED, now - 200)


def test_rsa_keys_too_weak_or_too_costly_to_check_are_not_accepted() -> None:
    """RFC 7518 asks 2048 bits at least; past 4096 a client (or a metadata document) could make each of its
    assertions cost this server far more CPU."""

    def rsa_jwk(bits: int) -> dict[str, Any]:
        modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        encoded = base64.urlsafe_b64encode(modulus.to_bytes(bits // 8, "big")).rstrip(b"=").decode()
        return {"kty": "RSA", "e": "AQAB", "n": encoded}

    for bits in (1024, 8192):
        with pytest.raises(KeySetError, match="2048 to 4096 bits"):
            key_set({"keys": [rsa_jwk(bits)]})
    assert len(key_set({"keys": [rsa_jwk(4096)]})) == 1


def test_a_fetched_set_leaves_out_keys_it_cannot_use_and_a_registered_one_refuses_them() -> None:
    """An identity provider's published set often holds an encryption key too: that must not make it unusable."""
    signer = Signer.new("ES256")
    published = {"keys": [Signer.new("RS256").jwk | {"use": "enc", "alg": "RSA-OAEP"}, signer.jwk]}
    (kept,) = key_set(published, strict=False)
    assert kept.kid == signer.kid
    with pytest.raises(KeySetError, match="RSA-OAEP"):
        key_set(published)
    with pytest.raises(KeySetError, match="no key"):
        key_set({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, strict=False)


def test_a_secret_verifies_hmac_only_and_a_public_key_never_does() -> None:
    """The two sides of the algorithm confusion: a derived secret cannot check a signature, nor a key an HMAC."""
    (secret,) = derived_keys(["s" * 43])
    rsa = keys_of(Signer.new("RS256"))[0]
    for alg in SYMMETRIC:
        assert fits(secret, alg) and not fits(rsa, alg)
    for alg in ASYMMETRIC:
        assert not fits(secret, alg)
    now = time.time()
    claims = {"iss": "c", "sub": "c", "aud": AUDIENCE, "exp": int(now) + 60, "jti": "1"}
    hmac_only = Expected(issuer="c", subject="c", audiences=frozenset({AUDIENCE}), algorithms=frozenset({"HS256"}))
    signed = jwt.encode(claims, ("s" * 43).encode(), algorithm="HS256", headers={"kid": "whatever"})
    assert verify(peek(signed), [secret], hmac_only, now)["iss"] == "c"  # a kid means nothing to a secret
    with pytest.raises(KeyUnknown):
        verify(peek(signed), [rsa], hmac_only, now)
    with pytest.raises(AssertionRefused, match="alg"):
        verify(peek(Signer.new("RS256").assertion("c")), [secret], hmac_only, now)
    with pytest.raises(AssertionRefused, match="client's secret"):
        verify(peek(jwt.encode(claims, b"t" * 43, algorithm="HS256")), derived_keys(["s" * 43] * 6), hmac_only, now)
