"""``asgi-oauth clients create --require-par``: a client the CLI made must push its authorization requests."""

from __future__ import annotations

import json

from asgi_oauth.features.par import PushedAuthorizationRequests
from asgi_oauth.store.redis import RedisStore

from ..serving import assert_one_line_error, clean_env, run_cli
from ..web.helpers import build_server, settings_for
from ..web.test_authorize import CALLBACK, Browser, resolve_user
from .test_par import PAR, request_params


async def test_a_client_created_with_require_par_must_push(
    redis_store: RedisStore, redis_url: str, key_prefix: str
) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    for client_id, flags in (("pushy", ["--require-par"]), ("plain", [])):
        made = run_cli(
            *("clients", "create", "--name", client_id, "--client-id", client_id, "--public"),
            *("--grant-type", "authorization_code", "--redirect-uri", CALLBACK, "--scope", "read", *flags),
            env=env,
        )
        assert made.returncode == 0, made.stderr
    listed = {c["client_id"]: c for c in json.loads(run_cli("clients", "list", env=env).stdout)}
    assert listed["pushy"]["extra"] == {"par": {"require": True}}
    assert "extra" not in listed["plain"]

    server = build_server(
        redis_store, settings_for(), features=[PushedAuthorizationRequests()], user_resolver=resolve_user
    )
    browser = Browser(server.http, server.oauth)
    try:
        assert (await browser.authorize(**request_params("plain"))).status_code == 200  # the consent page
        refused = await browser.authorize(**request_params("pushy"))
        assert refused.status_code == 400 and "must push" in refused.text
        push = await server.http.post(PAR, data=request_params("pushy"))  # a public client names itself
        assert push.status_code == 201, push.text
        request_uri = push.json()["request_uri"]
        assert (await browser.authorize(client_id="pushy", request_uri=request_uri)).status_code == 200
    finally:
        await server.http.aclose()


def test_require_par_without_the_code_grant_is_one_line(redis_url: str, key_prefix: str) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    made = run_cli(
        *("clients", "create", "--name", "job", "--grant-type", "client_credentials", "--scope", "read"),
        "--require-par",
        env=env,
    )
    assert_one_line_error(made, "--require-par", "authorization_code")
    assert json.loads(run_cli("clients", "list", env=env).stdout) == []
