"""``asgi-oauth keys list|rotate``: the generated OpenID Connect keys in Redis, never their material."""

from __future__ import annotations

import json

from ..serving import assert_one_line_error, clean_env, run_cli


def test_keys_rotate_and_list_on_redis(redis_url: str, key_prefix: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    assert json.loads(run_cli("keys", "list", env=env).stdout) == []
    first = run_cli("keys", "rotate", env=env)
    assert first.returncode == 0, first.stderr
    (only,) = json.loads(first.stdout)
    assert only["signing"] is True and only["alg"] == "RS256" and only["retire_at"] is None
    second = json.loads(run_cli("keys", "rotate", env=env).stdout)
    assert [key["kid"] for key in second][1] == only["kid"]
    assert second[0]["signing"] and not second[1]["signing"] and second[1]["retire_at"] > 0
    listed = run_cli("keys", "list", env=env)
    assert json.loads(listed.stdout) == second
    assert "PRIVATE" not in listed.stdout and '"d"' not in listed.stdout


def test_keys_commands_refuse_configured_keys_and_a_missing_redis(redis_url: str) -> None:
    configured = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_ENABLE_OIDC="1", ASGI_OAUTH_OIDC_SIGNING_KEYS='{"kty": "oct"}'
    )
    assert_one_line_error(run_cli("keys", "rotate", env=configured), "configured keys rotate by configuration")
    assert_one_line_error(run_cli("keys", "list", env=clean_env()), "need ASGI_OAUTH_REDIS_URL")
