"""Settings from ``ASGI_OAUTH_*`` environment variables or keyword arguments (asgi_oauth/settings.py)."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

import asgi_oauth.environment as environment_module
from asgi_oauth import MemoryStore, OAuthServer
from asgi_oauth.environment import unknown_variable_warning, unknown_variables
from asgi_oauth.settings import ENV_PREFIX, OAuthSettings, SettingsError, is_loopback, load_settings

KEY_A = "a" * 32
KEY_B = "b" * 43


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without ASGI_OAUTH_* variables, whatever the shell running pytest exported."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def refused(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def test_defaults() -> None:
    settings = load_settings()
    assert ENV_PREFIX == "ASGI_OAUTH_"
    assert settings.issuer == "http://127.0.0.1:8000/oauth"
    assert settings.redis_url is None
    assert settings.secret_key == ()
    assert settings.key_prefix == "oauth"
    assert settings.access_token_lifetime == 3600
    assert settings.refresh_token_lifetime == 14 * 86400
    assert settings.authorization_code_lifetime == 60
    assert settings.consent_lifetime == 0
    assert settings.enable_password_grant is False
    assert settings.enable_implicit_grant is False
    assert settings.allow_plain_pkce is False
    assert settings.require_pkce is True
    assert settings.allow_insecure_transport is False
    assert settings.max_body_size == 64 * 1024
    assert settings.redis_timeout == 2.0
    # The failed-attempt policy (README "Failed attempts").
    assert settings.rate_limit_failures == 10
    assert settings.rate_limit_window == 300
    assert settings.rate_limit_address_failures == 100
    assert settings.rate_limit_principal_failures == 50
    assert settings.rate_limit_principal_window == 3600
    assert settings.known_device_lifetime == 30 * 86400


def test_without_a_key_an_ephemeral_one_is_used_and_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_oauth"):
        first = load_settings()
    assert first.ephemeral_key is True
    assert len(first.signing_keys) == 1
    assert len(first.signing_keys[0]) >= 32
    assert "ASGI_OAUTH_SECRET_KEY" in caplog.text
    # Ephemeral means per process start: another instance gets another key.
    assert load_settings().signing_keys != first.signing_keys


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_ISSUER", "https://auth.example.com/oauth/")
    monkeypatch.setenv("ASGI_OAUTH_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("ASGI_OAUTH_KEY_PREFIX", "myapp")
    monkeypatch.setenv("ASGI_OAUTH_ACCESS_TOKEN_LIFETIME", "600")
    monkeypatch.setenv("ASGI_OAUTH_AUTHORIZATION_CODE_LIFETIME", "30")
    monkeypatch.setenv("ASGI_OAUTH_ENABLE_PASSWORD_GRANT", "true")
    monkeypatch.setenv("ASGI_OAUTH_ALLOW_PLAIN_PKCE", "1")
    monkeypatch.setenv("ASGI_OAUTH_MAX_BODY_SIZE", "2048")
    # Unprefixed names are not settings.
    monkeypatch.setenv("ISSUER", "https://wrong.example")
    monkeypatch.setenv("KEY_PREFIX", "wrong")

    settings = load_settings()
    assert settings.issuer == "https://auth.example.com/oauth"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.key_prefix == "myapp"
    assert settings.access_token_lifetime == 600
    assert settings.authorization_code_lifetime == 30
    assert settings.enable_password_grant is True
    assert settings.allow_plain_pkce is True
    assert settings.max_body_size == 2048


def test_keyword_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_KEY_PREFIX", "fromenv")
    assert load_settings(key_prefix="fromcode").key_prefix == "fromcode"
    assert load_settings().key_prefix == "fromenv"


def test_secret_key_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_SECRET_KEY", f" {KEY_A} ,{KEY_B},")
    settings = load_settings()
    assert settings.ephemeral_key is False
    assert settings.signing_keys == (KEY_A, KEY_B)  # newest first, as given
    assert [k.get_secret_value() for k in settings.secret_key] == [KEY_A, KEY_B]


def test_secret_key_in_code() -> None:
    assert load_settings(secret_key=KEY_B).signing_keys == (KEY_B,)
    assert load_settings(secret_key=f"{KEY_B},{KEY_A}").signing_keys == (KEY_B, KEY_A)
    assert load_settings(secret_key=[KEY_A, KEY_B]).signing_keys == (KEY_A, KEY_B)


def test_secret_key_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_SECRET_KEY", KEY_B)
    settings = load_settings()
    assert KEY_B not in repr(settings)
    assert KEY_B not in str(settings)


def test_short_secret_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_SECRET_KEY", f"{KEY_A},tooShortKey123")
    message = refused()
    assert message.startswith("ASGI_OAUTH_SECRET_KEY: ")
    assert "32 characters" in message
    assert "tooShortKey123" not in message
    assert KEY_A not in message


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ISSUER", "ftp://auth.example.com", "absolute http(s) URL"),
        ("ISSUER", "auth.example.com/oauth", "absolute http(s) URL"),
        ("ISSUER", "https://auth.example.com/oauth?x=1", "query or fragment"),
        ("ISSUER", "https://auth.example.com/oauth#top", "query or fragment"),
        ("ISSUER", "http://auth.example.com/oauth", "ALLOW_INSECURE_TRANSPORT"),
        ("REDIS_URL", "http://cache:6379", "redis://"),
        ("KEY_PREFIX", "a:b", "colons"),
        ("KEY_PREFIX", "{tag}", "braces"),
        ("KEY_PREFIX", "two words", "whitespace"),
        ("ACCESS_TOKEN_LIFETIME", "0", "greater than 0"),
        ("ACCESS_TOKEN_LIFETIME", "90000", "less than or equal to 86400"),
        ("ACCESS_TOKEN_LIFETIME", "an hour", "number"),
        ("REFRESH_TOKEN_LIFETIME", "-1", "greater than 0"),
        ("REFRESH_TOKEN_LIFETIME", "60", "at least ASGI_OAUTH_ACCESS_TOKEN_LIFETIME (60 < 3600)"),
        ("AUTHORIZATION_CODE_LIFETIME", "601", "less than or equal to 600"),
        ("AUTHORIZATION_CODE_LIFETIME", "0", "greater than 0"),
        ("CONSENT_LIFETIME", "-5", "greater than or equal to 0"),
        ("CONSENT_FORM_LIFETIME", "3601", "less than or equal to 3600"),
        ("ENABLE_PASSWORD_GRANT", "maybe", "boolean"),
        ("ALLOW_INSECURE_TRANSPORT", "perhaps", "boolean"),
        ("MAX_BODY_SIZE", "100", "greater than or equal to 1024"),
        ("REDIS_TIMEOUT", "0", "greater than 0"),
    ],
)
def test_invalid_value_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(f"ASGI_OAUTH_{name}", value)
    message = refused()
    assert message.startswith(f"ASGI_OAUTH_{name}: "), message
    assert reason in message


@pytest.mark.parametrize("wider", ["RATE_LIMIT_ADDRESS_FAILURES", "RATE_LIMIT_PRINCIPAL_FAILURES"])
def test_wider_limits_are_at_least_the_pair_limit(monkeypatch: pytest.MonkeyPatch, wider: str) -> None:
    monkeypatch.setenv("ASGI_OAUTH_RATE_LIMIT_FAILURES", "20")
    monkeypatch.setenv(f"ASGI_OAUTH_{wider}", "19")
    assert refused() == f"ASGI_OAUTH_{wider}: must be at least ASGI_OAUTH_RATE_LIMIT_FAILURES (20)"
    monkeypatch.setenv("ASGI_OAUTH_RATE_LIMIT_FAILURES", "0")  # limits off: nothing to compare
    assert load_settings().rate_limit_failures == 0


def test_every_problem_is_reported_at_once() -> None:
    message = refused(key_prefix="a b", redis_url="http://x", max_body_size=1)
    assert "ASGI_OAUTH_KEY_PREFIX: " in message
    assert "ASGI_OAUTH_REDIS_URL: " in message
    assert "ASGI_OAUTH_MAX_BODY_SIZE: " in message


def test_settings_error_is_a_value_error_without_pydantic_chaining() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(authorization_code_lifetime=601)
    assert isinstance(caught.value, ValueError)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_authorization_code_lifetime_at_most_ten_minutes() -> None:
    assert load_settings(authorization_code_lifetime=600).authorization_code_lifetime == 600
    assert refused(authorization_code_lifetime=600.5).startswith("ASGI_OAUTH_AUTHORIZATION_CODE_LIFETIME: ")


@pytest.mark.parametrize(
    "issuer",
    [
        "http://localhost:8000/oauth",
        "http://127.0.0.1/oauth",
        "http://[::1]:8000/oauth",
        "http://auth.localhost/oauth",
        "https://auth.example.com/oauth",
    ],
)
def test_issuer_allowed_without_insecure_transport(issuer: str) -> None:
    assert load_settings(issuer=issuer).issuer == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://auth.example.com/oauth",
        "http://localhost.example.com/oauth",
        "http://10.0.0.5:8000/oauth",
        "http://0.0.0.0:8000/oauth",
    ],
)
def test_http_issuer_refused_outside_localhost(monkeypatch: pytest.MonkeyPatch, issuer: str) -> None:
    message = refused(issuer=issuer)
    assert message.startswith("ASGI_OAUTH_ISSUER: ")
    assert "ASGI_OAUTH_ALLOW_INSECURE_TRANSPORT" in message

    monkeypatch.setenv("ASGI_OAUTH_ALLOW_INSECURE_TRANSPORT", "1")
    assert load_settings(issuer=issuer).issuer == issuer


def test_issuer_loses_its_trailing_slash() -> None:
    assert load_settings(issuer="https://auth.example.com/oauth/").issuer == "https://auth.example.com/oauth"


def test_empty_redis_url_means_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASGI_OAUTH_REDIS_URL", "")
    assert load_settings().redis_url is None


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0", "rediss://h", "unix:///tmp/redis.sock", "redis+cluster://h:7000", "rediss+cluster://h"]
)
def test_redis_url_schemes(url: str) -> None:
    assert load_settings(redis_url=url).redis_url == url


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.key_prefix = "other"


def test_direct_construction_is_possible() -> None:
    options: dict[str, Any] = {"issuer": "https://auth.example.com", "secret_key": KEY_A}
    settings = OAuthSettings(**options)
    assert settings.signing_keys == (KEY_A,)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("app.localhost", True),
        ("localhost.example.com", False),
        ("example.com", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_misspelled_variable_is_named_with_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(environment_module, "_warned", set())  # as in a fresh process
    monkeypatch.setenv("ASGI_OAUTH_ACCES_TOKEN_LIFETIME", "5")
    monkeypatch.setenv("ASGI_OAUTH_SECRET_KEY", KEY_A)
    with caplog.at_level(logging.WARNING, logger="asgi_oauth"):
        settings = load_settings()
        OAuthServer(settings, store=MemoryStore())
        OAuthServer(settings, store=MemoryStore())  # a second server does not repeat it
    assert settings.access_token_lifetime == 3600  # ignored, hence the warning
    expected = (
        "ASGI_OAUTH_ACCES_TOKEN_LIFETIME is not a setting and is ignored; "
        "did you mean ASGI_OAUTH_ACCESS_TOKEN_LIFETIME?"
    )
    assert [m for m in caplog.messages if "is not a setting" in m] == [expected]


def test_unknown_variables_and_their_suggestions() -> None:
    environ = {
        "ASGI_OAUTH_REDISURL": "redis://x",
        "asgi_oauth_isuer": "https://a.example/oauth",
        "ASGI_OAUTH_WORKERS": "4",
        # settings, in either case, and variables read elsewhere: not warned about
        "ASGI_OAUTH_ISSUER": "https://a.example/oauth",
        "asgi_oauth_key_prefix": "p",
        "ASGI_OAUTH_DEMO_USERS": "a:b",
        "ASGI_OAUTH_TEST_REDIS_URL": "redis://x",
        "ASGI_OAUTH_FUZZ_SCALE": "2",
        "OTHER_ACCESS_TOKEN_LIFETIME": "5",
    }
    assert unknown_variables(environ) == ["ASGI_OAUTH_REDISURL", "ASGI_OAUTH_WORKERS", "asgi_oauth_isuer"]
    assert unknown_variable_warning("ASGI_OAUTH_REDISURL").endswith("did you mean ASGI_OAUTH_REDIS_URL?")
    assert unknown_variable_warning("asgi_oauth_isuer").endswith("did you mean ASGI_OAUTH_ISSUER?")
    assert unknown_variable_warning("ASGI_OAUTH_DEMO_USER").endswith("did you mean ASGI_OAUTH_DEMO_USERS?")
    # Nothing close (the shared prefix alone does not count): no guess.
    assert unknown_variable_warning("ASGI_OAUTH_WORKERS") == (
        "ASGI_OAUTH_WORKERS is not a setting and is ignored (see the settings reference in the documentation)"
    )
