"""The DPoP proof checks on their own (``asgi_oauth/dpop/proof.py``): no store, no HTTP, a clock of our own.

Proofs are made as a client makes them (``proofs.py``: PyJWT and ``cryptography``), then bent one way at a time
into each thing RFC 9449 section 4.3 refuses, and fuzzed: whatever arrives, the answer is a proof or a
:class:`ProofRefused`, never another exception.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from asgi_oauth.crypto import b64url, unb64url
from asgi_oauth.dpop.proof import (
    DEFAULT_ALGORITHMS,
    NonceRequired,
    Proof,
    ProofRefused,
    access_token_hash,
    canonical_htu,
    thumbprint,
    verify_proof,
)
from asgi_oauth.features.assertions.names import ASYMMETRIC, asymmetric_only

from .proofs import ProofKey, part

URL = "https://as.example.test/token"
ALGORITHMS = frozenset(DEFAULT_ALGORITHMS)
KEYS = {alg: ProofKey.new(alg) for alg in ASYMMETRIC}  # every algorithm a proof may be signed with
ES256 = KEYS["ES256"]


def check(proof: object, *, method: str = "POST", url: str = URL, now: float | None = None, **options: Any) -> Proof:
    return verify_proof(
        proof,  # type: ignore[arg-type]  # whatever a client sends, checked at run time
        method=method,
        url=url,
        now=time.time() if now is None else now,
        algorithms=options.pop("algorithms", ALGORITHMS),
        **options,
    )


def refused(proof: object, match: str, **options: Any) -> ProofRefused:
    with pytest.raises(ProofRefused, match=match) as caught:
        check(proof, **options)
    return caught.value


# A valid proof, and what it tells the caller


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_a_proof_made_as_a_client_makes_it_is_accepted(alg: str) -> None:
    key = KEYS[alg]
    now = time.time()
    proof = check(key.proof("POST", URL, jti="j-1", iat=int(now)), now=now)
    assert proof.jkt == thumbprint(key.jwk)
    assert (proof.jti, proof.htm, proof.htu, proof.iat) == ("j-1", "POST", URL, float(int(now)))
    assert proof.ath is None and proof.nonce is None
    assert proof.jwk == {name: key.jwk[name] for name in proof.jwk} and "kty" in proof.jwk


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_a_signature_changed_in_any_byte_or_cut_short_does_not_verify(alg: str) -> None:
    """Each algorithm's check is this module's own (cryptography's primitives, prepared once), judged against
    PyJWT's signing: the proof above verifies, and the same proof with its signature altered does not."""
    header, payload, signature = KEYS[alg].proof("POST", URL).split(".")
    raw = unb64url(signature)
    for changed in (bytes([raw[0] ^ 1]) + raw[1:], raw[:-1] + bytes([raw[-1] ^ 0x80]), raw[:-1], raw + b"\0"):
        refused(f"{header}.{payload}.{b64url(changed)}", "signature does not verify")


def test_a_pss_signature_must_use_a_salt_as_long_as_the_hash() -> None:
    """RFC 7518 section 3.5: PS256's salt is 32 bytes. A signature with another salt length is valid PSS, and
    OpenSSL would accept it if told to find the length itself; a proof signed so is refused."""
    key = KEYS["PS256"]
    header, payload, _ = key.proof("POST", URL).split(".")
    signed = f"{header}.{payload}".encode()
    for salt in (0, 20):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
        signature = key.private.sign(signed, pss, hashes.SHA256())
        refused(f"{header}.{payload}.{b64url(signature)}", "signature does not verify")


def test_the_proof_keeps_only_the_members_that_define_the_key() -> None:
    decorated = ES256.proof("POST", URL, extra_header={"jwk": ES256.jwk | {"kid": "k1", "use": "sig"}})
    assert dict(check(decorated).jwk) == {name: ES256.jwk[name] for name in ("crv", "kty", "x", "y")}


def test_unknown_header_parameters_and_claims_are_ignored() -> None:
    proof = ES256.proof("POST", URL, extra_header={"kid": "k", "x-note": [1, {"a": None}]}, extra_claims={"z": 1})
    assert check(proof).jkt == thumbprint(ES256.jwk)


# RFC 7638 thumbprints and the ath hash

RFC_7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
        "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6q"
        "MQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awa"
        "pJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_the_thumbprint_of_rfc_7638s_example_key() -> None:
    assert thumbprint(RFC_7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    bare = {name: RFC_7638_KEY[name] for name in ("kty", "n", "e")}
    assert thumbprint(bare) == thumbprint(RFC_7638_KEY)  # optional members are not part of it


def test_thumbprints_of_each_key_type_are_sha256_of_the_required_members_in_order() -> None:
    for key in (ES256, KEYS["EdDSA"], KEYS["RS256"]):
        jwk = key.jwk
        names = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
        canonical = "{" + ",".join(f'"{name}":"{jwk[name]}"' for name in names) + "}"
        assert thumbprint(jwk) == b64url(hashlib.sha256(canonical.encode()).digest())


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "RSA", "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": 5},
        {"kty": "OKP", "crv": "Ed25519", "x": 'a","kty":"RSA'},
        {"kty": ["RSA"]},
        {},
    ],
)
def test_a_thumbprint_is_not_taken_of_what_is_not_a_public_key(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        thumbprint(jwk)


def test_ath_is_the_base64url_sha256_of_the_token() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"  # RFC 9449 section 7.1's example
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    assert access_token_hash("\ud800") != access_token_hash("")  # never raises, whatever the header held


# htu: the request's URL without query and fragment, normalised


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://as.example.test/token?x=1#frag", "https://as.example.test/token"),
        ("HTTPS://AS.Example.TEST/token", "https://as.example.test/token"),
        ("https://as.example.test:443/token", "https://as.example.test/token"),
        ("http://as.example.test:80/token", "http://as.example.test/token"),
        ("https://as.example.test:8443/token", "https://as.example.test:8443/token"),
        ("https://as.example.test", "https://as.example.test/"),
        ("https://as.example.test?q", "https://as.example.test/"),
        ("https://[::1]:443/a", "https://[::1]/a"),
        ("https://as.example.test/%7etok%2fen", "https://as.example.test/~tok%2Fen"),
    ],
)
def test_canonical_htu(given: str, canonical: str) -> None:
    assert canonical_htu(given) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "/token",
        "as.example.test/token",
        "ftp://as.example.test/token",
        "https:///token",
        "https://user@as.example.test/token",
        "https://as.example.test:99999/token",
        "https://as.example.test:port/token",
        "https://[::1/token",
        "https://as.example.test/to ken",
        "https://as.example.test/to\nken",
        "",
    ],
)
def test_canonical_htu_refuses_what_is_not_an_absolute_http_uri(url: str) -> None:
    with pytest.raises(ValueError):
        canonical_htu(url)


@pytest.mark.parametrize(
    ("claimed", "request_url"),
    [
        ("https://as.example.test/token", "https://as.example.test/token?code=1"),
        ("https://as.example.test/token?whatever#x", URL),
        ("https://AS.EXAMPLE.test:443/token", URL),
        ("http://as.example.test/token", "http://as.example.test:80/token"),
    ],
)
def test_htu_matches_the_request_url_without_query_or_fragment(claimed: str, request_url: str) -> None:
    assert check(ES256.proof("POST", claimed), url=request_url).htu == canonical_htu(request_url)


@pytest.mark.parametrize(
    "claimed",
    [
        "https://as.example.test/token/",
        "https://as.example.test/Token",
        "https://as.example.test/token/more",
        "http://as.example.test/token",
        "https://as.example.test:8443/token",
        "https://other.example.test/token",
        "https://as.example.test/resource",
        "/token",
        "not a url",
    ],
)
def test_a_proof_for_another_url_is_refused(claimed: str) -> None:
    refused(ES256.proof("POST", claimed), "htu must be this request's URL")


def test_a_proof_with_a_non_string_htu_or_for_a_request_url_that_cannot_be_compared_is_refused() -> None:
    refused(ES256.proof("POST", URL, extra_claims={"htu": ["https://as.example.test/token"]}), "htu")
    refused(ES256.proof("POST", URL), "request's URL cannot be compared", url="https://as.example.test:http/token")


# htm


@pytest.mark.parametrize(("claimed", "method"), [("POST", "GET"), ("GET", "POST"), ("post", "POST"), ("POST ", "POST")])
def test_a_proof_for_another_method_is_refused(claimed: str, method: str) -> None:
    refused(ES256.proof(claimed, URL), "htm must be this request's method", method=method)


def test_a_proof_without_htm_is_refused() -> None:
    refused(ES256.proof("POST", URL, extra_claims={"htm": None}), "htm")
    refused(ES256.proof("POST", URL, extra_claims={"htm": 1}), "htm")


# iat


def test_iat_is_judged_by_the_callers_clock_within_max_age_and_leeway() -> None:
    now = 1_800_000_000.0
    for accepted in (now, now - 300, now - 305, now + 5, int(now)):
        assert check(ES256.proof("POST", URL, iat=accepted), now=now).iat == accepted
    refused(ES256.proof("POST", URL, iat=now - 306), "more than 300 seconds old", now=now)
    refused(ES256.proof("POST", URL, iat=now + 6), "in the future", now=now)
    refused(ES256.proof("POST", URL, iat=now - 66), "more than 60 seconds old", now=now, max_age=60)
    refused(ES256.proof("POST", URL, iat=now + 20), "in the future", now=now, leeway=10)


@pytest.mark.parametrize("iat", [None, "1800000000", True, [1], {"t": 1}, 10**300, -(10**300), 1e308])
def test_an_iat_that_is_not_a_recent_number_is_refused(iat: Any) -> None:
    refused(ES256.proof("POST", URL, extra_claims={"iat": iat}), "iat|old|future", now=1_800_000_000.0)


# jti


@pytest.mark.parametrize("jti", [None, "", "j" * 257, 7, ["j"]])
def test_a_proof_without_a_usable_jti_is_refused(jti: Any) -> None:
    refused(ES256.proof("POST", URL, extra_claims={"jti": jti}), "jti")


def test_a_jti_of_256_characters_is_accepted() -> None:
    assert check(ES256.proof("POST", URL, jti="j" * 256)).jti == "j" * 256


# ath


def test_a_proof_sent_with_an_access_token_must_carry_its_hash() -> None:
    token = "family.secret"
    assert check(ES256.proof("GET", URL, ath=access_token_hash(token)), method="GET", access_token=token).ath
    refused(ES256.proof("GET", URL), "must carry its hash as ath", method="GET", access_token=token)
    other = access_token_hash("family.other")
    refused(ES256.proof("GET", URL, ath=other), "not the hash of the access token", method="GET", access_token=token)
    refused(ES256.proof("GET", URL, extra_claims={"ath": 5}), "ath", method="GET", access_token=token)
    refused(ES256.proof("GET", URL, ath="\u00e9" * 43), "not the hash", method="GET", access_token=token)


def test_without_an_access_token_ath_is_only_passed_on() -> None:
    assert check(ES256.proof("POST", URL, ath="abc")).ath == "abc"


# nonce


def test_a_server_asking_for_nonces_refuses_a_proof_without_a_current_one() -> None:
    current = {"n-1"}
    with pytest.raises(NonceRequired, match="requires a nonce") as caught:
        check(ES256.proof("POST", URL), nonce_valid=current.__contains__)
    assert caught.value.error == "use_dpop_nonce"
    with pytest.raises(NonceRequired, match="not current"):
        check(ES256.proof("POST", URL, nonce="n-0"), nonce_valid=current.__contains__)
    with pytest.raises(NonceRequired):
        check(ES256.proof("POST", URL, extra_claims={"nonce": 12}), nonce_valid=current.__contains__)
    assert check(ES256.proof("POST", URL, nonce="n-1"), nonce_valid=current.__contains__).nonce == "n-1"


def test_a_nonce_is_passed_on_when_the_server_does_not_ask_for_one() -> None:
    assert check(ES256.proof("POST", URL, nonce="n")).nonce == "n"
    malformed = refused(ES256.proof("POST", URL, extra_claims={"nonce": ["n"]}), "nonce must be the text")
    assert not isinstance(malformed, NonceRequired)  # a server without nonces does not ask for one


def test_every_other_refusal_is_invalid_dpop_proof() -> None:
    assert refused(ES256.proof("GET", URL), "htm").error == "invalid_dpop_proof"
    assert not isinstance(refused(ES256.proof("GET", URL), "htm"), NonceRequired)


# The header: typ, alg, jwk, crit


@pytest.mark.parametrize("typ", [None, "JWT", "DPoP+JWT", "application/dpop+jwt", "dpop+jwt ", 1])
def test_a_proof_without_typ_dpop_jwt_is_refused(typ: Any) -> None:
    refused(ES256.signed({"typ": typ, "alg": "ES256", "jwk": ES256.jwk}, claims()), "typ must be 'dpop\\+jwt'")


def test_an_unsigned_proof_is_refused() -> None:
    header = part({"typ": "dpop+jwt", "alg": "none", "jwk": ES256.jwk})
    refused(f"{header}.{part(claims())}.", "not a signed JWT")
    refused(f"{header}.{part(claims())}.AAAA", "alg 'none' is not accepted")


def test_an_hmac_made_with_the_public_key_is_refused() -> None:
    """The algorithm confusion: a MAC keyed with the public key's bytes, which anyone has."""
    key = KEYS["RS256"]
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = part({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk})
    signing_input = f"{header}.{part(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    refused(f"{signing_input}.{b64url(mac)}", "alg 'HS256' is not accepted")


def test_the_checks_cannot_be_configured_with_none_or_an_hmac() -> None:
    for algorithms in ({"none"}, {"HS256"}, {"ES256", "HS512"}, set()):
        with pytest.raises(ValueError, match="asymmetric only"):
            check(ES256.proof("POST", URL), algorithms=frozenset(algorithms))
        with pytest.raises(ValueError, match="asymmetric only"):
            asymmetric_only(tuple(algorithms))
    assert asymmetric_only(("ES256", "EdDSA")) == ("ES256", "EdDSA")
    assert set(DEFAULT_ALGORITHMS) == set(ASYMMETRIC) and not any(alg.startswith("HS") for alg in ASYMMETRIC)


def test_an_algorithm_the_deployment_does_not_accept_is_refused() -> None:
    refused(KEYS["RS256"].proof("POST", URL), "alg 'RS256' is not accepted", algorithms=frozenset({"ES256"}))


def test_a_jwk_with_private_parts_is_refused() -> None:
    private = ECAlgorithm.to_jwk(ES256.private, as_dict=True)
    refused(ES256.proof("POST", URL, extra_header={"jwk": private}), "private or symmetric parts")
    rsa_private = RSAAlgorithm.to_jwk(KEYS["RS256"].private, as_dict=True)
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        jwk = KEYS["RS256"].jwk | {member: rsa_private[member]}
        refused(KEYS["RS256"].proof("POST", URL, extra_header={"jwk": jwk}), "private or symmetric parts")
    refused(KEYS["RS256"].proof("POST", URL, extra_header={"jwk": KEYS["RS256"].jwk | {"oth": []}}), "private")


def test_a_symmetric_jwk_is_refused() -> None:
    for alg in ("ES256", "RS256"):
        proof = KEYS[alg].signed({"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "oct", "k": "c2VjcmV0"}}, claims())
        refused(proof, "private or symmetric parts")


def test_a_jwk_that_is_not_an_object_is_refused() -> None:
    for jwk in (None, "key", ["kty", "EC"], 1):
        refused(ES256.signed({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, claims()), "jwk object")


def test_an_rsa_key_of_1024_bits_is_refused() -> None:
    weak = ProofKey.new("RS256", rsa_bits=1024)  # signed without PyJWT's encode, which warns about the size
    refused(weak.signed({"typ": "dpop+jwt", "alg": "RS256", "jwk": weak.jwk}, claims()), "2048 to 4096 bits, not 1024")


def test_an_rsa_key_with_a_huge_exponent_is_refused() -> None:
    jwk = KEYS["RS256"].jwk | {"e": b64url((2**127 + 1).to_bytes(16, "big"))}
    refused(KEYS["RS256"].proof("POST", URL, extra_header={"jwk": jwk}), "exponent")


@pytest.mark.parametrize(
    ("alg", "other"),
    [("ES256", "RS256"), ("RS256", "ES256"), ("ES384", "ES256"), ("EdDSA", "ES256"), ("PS256", "EdDSA")],
)
def test_a_jwk_of_another_type_or_curve_than_alg_is_refused(alg: str, other: str) -> None:
    """The proof is signed by ``other``'s key, which its header carries, under a header ``alg`` it is not for."""
    key = KEYS[other]
    refused(key.signed({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}, claims()), f"alg {alg} verifies with")


def test_a_jwk_naming_another_alg_is_refused() -> None:
    refused(ES256.proof("POST", URL, extra_header={"jwk": ES256.jwk | {"alg": "ES384"}}), "jwk is for alg 'ES384'")


def test_a_jwk_that_is_no_valid_key_is_refused() -> None:
    off_curve = ES256.jwk | {"y": ES256.jwk["x"]}
    refused(ES256.proof("POST", URL, extra_header={"jwk": off_curve}), "not a valid EC public key|signature")
    refused(ES256.proof("POST", URL, extra_header={"jwk": ES256.jwk | {"x": "AAAA"}}), "not a valid EC public key")
    refused(ES256.proof("POST", URL, extra_header={"jwk": ES256.jwk | {"x": 5}}), "needs x as base64url")
    refused(ES256.proof("POST", URL, extra_header={"jwk": ES256.jwk | {"x": "!!"}}), "needs x as base64url")
    refused(KEYS["RS256"].proof("POST", URL, extra_header={"jwk": {"kty": "RSA", "e": "AQAB"}}), "needs n")
    five = KEYS["RS256"].jwk | {"n": "AAAAA"}  # base64url characters, but no whole number of bytes
    refused(KEYS["RS256"].proof("POST", URL, extra_header={"jwk": five}), "n or e that is not base64url")


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    other = ProofKey.new("ES256")
    refused(other.proof("POST", URL, extra_header={"jwk": ES256.jwk}), "signature does not verify")


def test_an_altered_proof_is_refused() -> None:
    header, payload, signature = ES256.proof("POST", URL).split(".")
    changed = part(claims() | {"htu": "https://as.example.test/other"})
    refused(f"{header}.{changed}.{signature}", "signature does not verify")
    refused(f"{header}.{payload}.{signature[:-4]}AAAA", "signature does not verify")
    refused(f"{header}.{payload}.{b64url(b'x' * 64)}", "signature does not verify")
    refused(f"{header}.{payload}.A", "signature is not base64url")


def test_crit_is_refused() -> None:
    refused(ES256.proof("POST", URL, extra_header={"crit": ["exp"], "exp": 1}), "crit")


def test_a_header_with_a_member_twice_is_refused() -> None:
    """Two JSON parsers may each keep a different one of the two: the proof means nothing certain."""
    body = json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": ES256.jwk})
    twice = b64url(('{"alg":"RS256",' + body[1:]).encode())
    refused(f"{twice}.{part(claims())}.{b64url(b'x' * 64)}", "header is not base64url-encoded JSON")


# Size and shape


def test_a_huge_proof_is_refused_before_it_is_parsed() -> None:
    refused("e" * 1_000_000, "longer than 8192")
    padded = ES256.proof("POST", URL, extra_claims={"pad": "x" * 9000})
    refused(padded, "longer than 8192")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "Bearer abc",
        "a.b",
        "a.b.c.d",
        "...",
        "a..c",
        "e30.e30.e30",
        "W10.e30.AAAA",
        "e30.W10.AAAA",
        "eyJ.eyJ.eyJ",
        "€.€.€",
        "\ud800.\ud800.\ud800",
        "a.b.c\n",
        b"e30.e30.AAAA",
        None,
        42,
        ["a", "b", "c"],
    ],
)
def test_garbage_is_refused(garbage: object) -> None:
    refused(garbage, "DPoP proof")


def test_json_that_python_reads_but_a_proof_must_not_hold_is_refused() -> None:
    header = part({"typ": "dpop+jwt", "alg": "ES256", "jwk": ES256.jwk})
    for payload in (
        '{"iat": NaN}',
        '{"iat": Infinity}',
        '{"iat": ' + "9" * 5000 + "}",
        "[" * 3000 + "]" * 3000,
        '{"jti": "\\ud800"}',
    ):
        signing_input = f"{header}.{b64url(payload.encode())}"
        refused(sign(ES256, signing_input), "payload is not|payload must|jti|DPoP proof")


def test_lone_surrogates_in_claims_are_refused_not_raised() -> None:
    for name in ("jti", "htu", "htm", "nonce", "ath"):
        body = json.dumps(claims(**{name: "\udc80"}))  # ensure_ascii: sent as the escape \udc80
        assert "\\udc80" in body
        header = part({"typ": "dpop+jwt", "alg": "ES256", "jwk": ES256.jwk})
        signing_input = f"{header}.{b64url(body.encode())}"
        with pytest.raises(ProofRefused):
            check(sign(ES256, signing_input), access_token="t", nonce_valid=lambda nonce: True)


# Fuzzing: whatever arrives, a Proof or a ProofRefused

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
NAMES = st.sampled_from(["typ", "alg", "jwk", "crit", "kid", "jti", "htm", "htu", "iat", "ath", "nonce", "kty", "x"])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(proof: object, **options: Any) -> None:
    try:
        check(proof, nonce_valid=lambda nonce: nonce == "n", access_token="t", **options)
    except ProofRefused as refusal:
        assert str(refusal) and refusal.error in ("invalid_dpop_proof", "use_dpop_nonce")


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_fuzz_any_text_or_bytes(value: str | bytes) -> None:
    outcome(value)


@FUZZ
@given(st.lists(st.text("ABCDEFabcdef0123456789-_=.+/", max_size=80), min_size=1, max_size=5))
def test_fuzz_base64ish_parts(parts: list[str]) -> None:
    outcome(".".join(parts))


@FUZZ
@given(st.dictionaries(NAMES, JSON, max_size=5), st.dictionaries(NAMES, JSON, max_size=6), st.booleans())
def test_fuzz_signed_headers_and_claims(header: dict[str, Any], changes: dict[str, Any], keep_jwk: bool) -> None:
    """Correctly signed proofs with arbitrary members: everything after the signature check is reached."""
    base = {"typ": "dpop+jwt", "alg": "ES256", "jwk": ES256.jwk} if keep_jwk else {}
    body = claims() | {"nonce": "n", "ath": access_token_hash("t")} | changes
    outcome(ES256.signed(base | header, body))


@FUZZ
@given(st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg", "d", "k"]), JSON, max_size=6))
def test_fuzz_jwks(jwk: dict[str, Any]) -> None:
    for alg in ("ES256", "RS256", "EdDSA"):
        outcome(ES256.signed({"typ": "dpop+jwt", "alg": alg, "jwk": ES256.jwk | jwk}, claims()))
        outcome(ES256.signed({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}, claims()))


# Helpers


def claims(**changes: Any) -> dict[str, Any]:
    return {"jti": "j", "htm": "POST", "htu": URL, "iat": int(time.time()), **changes}


def sign(key: ProofKey, signing_input: str) -> str:
    """``signing_input`` (whatever it holds) signed as ``key``'s algorithm signs."""
    import jwt

    signature = jwt.PyJWS().get_algorithm_by_name(key.alg).sign(signing_input.encode(), key.private)
    return f"{signing_input}.{b64url(signature)}"
