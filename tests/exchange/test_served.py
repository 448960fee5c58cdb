"""Token exchange on ``asgi-oauth serve`` with two workers on Redis, set up with the command line as an operator
would, and driven with plain httpx exactly as RFC 8693 section 2.3's example request is shaped: a user's token
is exchanged on one worker and what comes out is introspected on the other; revoking the user's token ends it on
both."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from asgi_oauth.features.exchange import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE

from ..serving import assert_one_line_error, clean_env, run_cli, serving

MCP = "https://mcp.example.com/mcp"
API = "https://backend.example.com/api"


def test_a_token_exchanged_on_one_worker_is_seen_with_its_actor_on_the_other(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_KEY_PREFIX=key_prefix,
        ASGI_OAUTH_SECRET_KEY="exchange-served-" + "k" * 32,
        ASGI_OAUTH_FEATURES="token_exchange",
        ASGI_OAUTH_ENABLE_PASSWORD_GRANT="true",
    )
    printed = {}
    for args in (
        ["--name", "app", "--client-id", "app", "--grant-type", "password", "--scope", "read write"],
        ["--name", "MCP server", "--client-id", "mcp-server", "--grant-type", "token-exchange", "--scope", "read",
         "--exchange-audience", MCP, "--introspect-any"],
    ):  # fmt: skip
        created = run_cli("clients", "create", *args, env=env)
        assert created.returncode == 0, created.stderr
        printed[args[3]] = json.loads(created.stdout)["client_secret"]
    not_exchanging = ["--name", "x", "--grant-type", "client_credentials", "--exchange-audience", MCP]
    refused = run_cli("clients", "create", *not_exchanging, env=env)
    assert_one_line_error(refused, "--exchange-audience belongs to clients with --grant-type token-exchange")

    with serving(tmp_path, env, workers=2) as server:
        token_url = f"{server.issuer}/token"
        user = httpx.post(
            token_url,
            data={"grant_type": "password", "username": "alice", "password": "wonderland", "resource": MCP},
            auth=("app", printed["app"]),
        )
        assert user.status_code == 200, user.text
        workers: set[tuple[str, str]] = set()
        issued: list[str] = []
        for _ in range(200):  # each pair on new connections, until the exchange and the look differ in worker
            exchanged = httpx.post(
                token_url,
                data={
                    "grant_type": TOKEN_EXCHANGE,
                    "resource": API,
                    "subject_token": user.json()["access_token"],
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "scope": "read",
                },
                auth=("mcp-server", printed["mcp-server"]),
            )
            assert exchanged.status_code == 200, exchanged.text
            body = exchanged.json()
            issued.append(body["access_token"])
            assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["scope"] == "read"
            seen = httpx.post(
                f"{server.issuer}/introspect",
                data={"token": body["access_token"], "token_type_hint": "access_token"},
                auth=("mcp-server", printed["mcp-server"]),
            )
            assert seen.json()["act"] == {"sub": "mcp-server", "client_id": "mcp-server"}, seen.text
            assert seen.json()["sub"] == "alice" and seen.json()["aud"] == API
            workers.add((exchanged.headers["x-demo-worker"], seen.headers["x-demo-worker"]))
            if any(minted != looked for minted, looked in workers):
                break
        assert any(minted != looked for minted, looked in workers), "uvicorn never used the other worker"

        # The user's token revoked on some worker: what was exchanged for it is inactive on every worker, at once,
        # though each worker had it in memory (introspected with the access-token hint, as resource servers do).
        ended = httpx.post(
            f"{server.issuer}/revoke", data={"token": user.json()["access_token"]}, auth=("app", printed["app"])
        )
        assert ended.status_code == 200, ended.text
        answered_by: set[str] = set()
        for attempt in range(200):  # every token, on new connections, until both workers have answered
            if len(answered_by) == 2 and attempt >= len(issued):
                break
            token = issued[attempt % len(issued)]
            seen = httpx.post(
                f"{server.issuer}/introspect",
                data={"token": token, "token_type_hint": "access_token"},
                auth=("mcp-server", printed["mcp-server"]),
            )
            assert seen.json() == {"active": False}, seen.text
            answered_by.add(seen.headers["x-demo-worker"])
        assert len(answered_by) == 2, answered_by
