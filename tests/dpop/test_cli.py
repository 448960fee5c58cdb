"""``asgi-oauth clients create --dpop-bound``: a client the command line made gets no token without a proof."""

from __future__ import annotations

import json

from asgi_oauth.features.dpop import DPoP
from asgi_oauth.store.redis import RedisStore

from ..serving import clean_env, run_cli
from ..web.helpers import BASE_URL, TOKEN, basic, build_server, settings_for
from .proofs import ProofKey


async def test_a_client_created_dpop_bound_needs_a_proof(
    redis_store: RedisStore, redis_url: str, key_prefix: str
) -> None:
    env = clean_env(ASGI_OAUTH_REDIS_URL=redis_url, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    made = run_cli(
        *("clients", "create", "--name", "job", "--client-id", "job", "--grant-type", "client_credentials"),
        *("--scope", "read", "--dpop-bound"),
        env=env,
    )
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["client_secret"]
    listed = {c["client_id"]: c for c in json.loads(run_cli("clients", "list", env=env).stdout)}
    assert listed["job"]["extra"] == {"dpop_bound_access_tokens": True}
    server = build_server(redis_store, settings_for(), features=[DPoP()])
    headers = {"Authorization": basic("job", secret)}
    form = {"grant_type": "client_credentials"}
    try:
        without = await server.http.post(TOKEN, data=form, headers=headers)
        assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof", without.text
        proof = ProofKey.new("ES256").proof("POST", f"{BASE_URL}{TOKEN}")
        bound = await server.http.post(TOKEN, data=form, headers={**headers, "DPoP": proof})
        assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP", bound.text
    finally:
        await server.http.aclose()
