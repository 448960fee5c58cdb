"""Minting, hashing and comparing credentials (asgi_oauth/crypto.py)."""

from __future__ import annotations

import re

import pytest

from asgi_oauth import crypto
from asgi_oauth.types import CodeChallengeMethod

B64URL = re.compile(r"[A-Za-z0-9_-]+")

# RFC 7636 appendix B. The verifier is the base64url encoding of the octets
# [116, 24, 223, 180, 151, 153, 224, 37, ...] printed there; the challenge is BASE64URL(SHA256(verifier)).
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# -- token shape ---------------------------------------------------------------------------------


def test_new_token_shape() -> None:
    family_id, token = crypto.new_token()
    assert len(family_id) == crypto.FAMILY_ID_LENGTH
    assert B64URL.fullmatch(family_id)
    head, dot, secret = token.partition(".")
    assert (head, dot) == (family_id, ".")
    assert len(secret) == 43  # 256 bits, base64url without padding
    assert B64URL.fullmatch(secret)
    assert crypto.family_of(token) == family_id


def test_new_token_in_a_given_family() -> None:
    family_id, first = crypto.new_token()
    same_family, second = crypto.new_token(family_id)
    assert same_family == family_id
    assert second != first
    assert crypto.family_of(second) == family_id


def test_minted_values_are_unique() -> None:
    tokens = {crypto.new_token()[1] for _ in range(200)}
    families = {crypto.new_family_id() for _ in range(200)}
    secrets = {crypto.new_client_secret() for _ in range(200)}
    assert len(tokens) == len(families) == len(secrets) == 200
    assert all(len(s) == 43 and B64URL.fullmatch(s) for s in secrets)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        ".",
        "a" * 22,
        "a" * 22 + ".",
        "a" * 22 + "." + "b" * 42,
        "a" * 22 + "." + "b" * 44,
        "a" * 21 + "." + "b" * 43,
        "a" * 23 + "." + "b" * 43,
        "a" * 22 + ":" + "b" * 43,
        "a" * 22 + "." + "b" * 42 + "=",
        "a" * 21 + "+." + "b" * 43,
        "a" * 21 + "{." + "b" * 43,
        "a" * 22 + "." + "b" * 42 + "/",
        "a" * 22 + "." + "b" * 43 + "\n",
        "\n" + "a" * 22 + "." + "b" * 43,
        " " + "a" * 22 + "." + "b" * 42,
        "a" * 22 + "." + "b" * 43 + ".",
        "é" * 22 + "." + "b" * 43,
        "a" * 22 + "." + "\U0001f600" * 43,
        "a" * 22 + "\0" + "b" * 43,
    ],
)
def test_family_of_rejects_junk(junk: str) -> None:
    assert crypto.family_of(junk) is None


def test_family_of_accepts_every_base64url_character() -> None:
    family_id = "AZaz09_-" * 2 + "abcdef"
    assert crypto.family_of(f"{family_id}.{'-_' * 21}Z") == family_id


# -- digests -------------------------------------------------------------------------------------


def test_digest_is_stable_and_short() -> None:
    _, token = crypto.new_token()
    first = crypto.digest(token, "access")
    assert first == crypto.digest(token, "access")
    assert len(first) == crypto.DIGEST_LENGTH
    assert B64URL.fullmatch(first)
    assert token not in first
    assert crypto.digest(token + "x", "access") != first


def test_digest_pinned_value() -> None:
    # Stored digests must not change between releases, or every live token stops validating.
    assert crypto.digest("abc", "access") == "klxMjxmICtiuo6DpV0C9xSQEJLNAa63N"


def test_digest_is_separated_by_purpose() -> None:
    _, token = crypto.new_token()
    purposes: list[crypto.Purpose] = ["access", "refresh", "code", "client"]
    digests = {crypto.digest(token, purpose) for purpose in purposes}
    assert len(digests) == len(purposes)


def test_digest_accepts_any_string() -> None:
    assert len(crypto.digest("\udcff lone surrogate", "client")) == crypto.DIGEST_LENGTH
    assert len(crypto.digest("", "code")) == crypto.DIGEST_LENGTH


# -- client secrets ------------------------------------------------------------------------------


def test_generated_secret_uses_sha256() -> None:
    secret = crypto.new_client_secret()
    stored = crypto.hash_secret(secret, generated=True)
    assert stored.startswith("sha256$")
    assert secret not in stored
    assert stored == crypto.hash_secret(secret, generated=True)
    assert crypto.verify_secret(secret, stored) is True
    assert crypto.verify_secret(secret + "x", stored) is False
    assert crypto.verify_secret(secret[:-1], stored) is False
    assert crypto.verify_secret("", stored) is False


def test_chosen_secret_uses_salted_scrypt() -> None:
    secret = "correct horse battery staple"
    stored = crypto.hash_secret(secret, generated=False)
    scheme, salt, hashed = stored.split("$")
    assert scheme == "scrypt"
    assert B64URL.fullmatch(salt)
    assert B64URL.fullmatch(hashed)
    assert secret not in stored
    # A fresh salt each time: equal secrets do not have equal hashes.
    assert crypto.hash_secret(secret, generated=False) != stored
    assert crypto.verify_secret(secret, stored) is True
    assert crypto.verify_secret("correct horse battery stapler", stored) is False
    assert crypto.verify_secret("", stored) is False


def test_non_ascii_secret_round_trips() -> None:
    secret = "pässwörd ✓"
    assert crypto.verify_secret(secret, crypto.hash_secret(secret, generated=False))
    assert crypto.verify_secret(secret, crypto.hash_secret(secret, generated=True))
    assert not crypto.verify_secret("passwort ✓", crypto.hash_secret(secret, generated=False))


def test_schemes_are_not_interchangeable() -> None:
    secret = crypto.new_client_secret()
    sha = crypto.hash_secret(secret, generated=True)
    # The sha256 digest under the scrypt tag (or the other way round) must not verify.
    assert crypto.verify_secret(secret, "scrypt$" + sha.partition("$")[2]) is False
    scrypt = crypto.hash_secret(secret, generated=False)
    assert crypto.verify_secret(secret, "sha256$" + scrypt.partition("$")[2]) is False


@pytest.mark.parametrize("stored", ["", "plain", "md5$abc", "SHA256$abc", "bcrypt$x$y", "$", "sha256", "scrypt"])
def test_unknown_or_malformed_scheme_never_verifies(stored: str) -> None:
    assert crypto.verify_secret("abc", stored) is False
    assert crypto.verify_secret("", stored) is False


def test_unknown_scheme_does_not_accept_the_stored_text_as_secret() -> None:
    assert crypto.verify_secret("md5$abc", "md5$abc") is False
    assert crypto.verify_secret("abc", "plain$abc") is False


# -- PKCE ----------------------------------------------------------------------------------------


def test_pkce_s256_rfc7636_example() -> None:
    assert crypto.pkce_challenge(RFC7636_VERIFIER, "S256") == RFC7636_CHALLENGE
    assert crypto.pkce_matches(RFC7636_VERIFIER, RFC7636_CHALLENGE, "S256") is True


def test_pkce_s256_rejects_other_verifiers_and_challenges() -> None:
    assert crypto.pkce_matches(RFC7636_VERIFIER[:-1] + "l", RFC7636_CHALLENGE, "S256") is False
    assert crypto.pkce_matches(RFC7636_VERIFIER, RFC7636_CHALLENGE[:-1] + "N", "S256") is False
    # Sending the challenge itself as the verifier, or using the plain method with the hash, fails.
    assert crypto.pkce_matches(RFC7636_CHALLENGE, RFC7636_CHALLENGE, "S256") is False
    assert crypto.pkce_matches(RFC7636_VERIFIER, RFC7636_CHALLENGE, "plain") is False
    assert crypto.pkce_matches("", RFC7636_CHALLENGE, "S256") is False


def test_pkce_plain() -> None:
    assert crypto.pkce_challenge(RFC7636_VERIFIER, "plain") == RFC7636_VERIFIER
    assert crypto.pkce_matches(RFC7636_VERIFIER, RFC7636_VERIFIER, "plain") is True
    assert crypto.pkce_matches(RFC7636_VERIFIER, RFC7636_VERIFIER + "x", "plain") is False


@pytest.mark.parametrize(
    ("verifier", "challenge"),
    [
        ("é" * 43, RFC7636_CHALLENGE),
        (RFC7636_VERIFIER, "é" * 43),
        ("\udcff" * 43, RFC7636_CHALLENGE),
        ("é" * 43, "é" * 43),
    ],
)
@pytest.mark.parametrize("method", ["S256", "plain"])
def test_pkce_non_ascii_input_is_a_mismatch_not_an_error(
    verifier: str, challenge: str, method: CodeChallengeMethod
) -> None:
    # Whatever reaches the token endpoint, the comparison answers instead of raising (no 500).
    expected = method == "plain" and verifier == challenge
    assert crypto.pkce_matches(verifier, challenge, method) is expected


def test_digest_is_hmac_sha256_of_the_purpose_key() -> None:
    """The precomputed pads give exactly what the standard library's HMAC gives: stored digests stay valid."""
    import base64
    import hashlib
    import hmac

    for value in ("", "x" * 300, "F" * 22 + "." + "s" * 43, "\udc80é"):
        for purpose, key in crypto._KEYS.items():
            raw = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
            assert crypto.digest(value, purpose) == base64.urlsafe_b64encode(raw).decode()[: crypto.DIGEST_LENGTH]


def test_memory_key_is_a_keyed_hash_of_the_whole_token() -> None:
    """The validation cache's key: one per token (any character of it changes it), never the token or its
    stored digest, and not computable without this process's key."""
    import hashlib

    token = "F" * 22 + "." + "s" * 43
    key = crypto.memory_key(token)
    assert key == crypto.memory_key(token) and len(key) == 16
    assert crypto.memory_key(token[:-1] + "t") != key and crypto.memory_key("\udc80é") != key
    assert key != hashlib.blake2b(token.encode(), digest_size=16).digest()  # keyed, not a bare hash
    assert key.hex() not in token and crypto.digest(token, "access").encode() != key
