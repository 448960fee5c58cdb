"""No token, code, client secret or password in any log line, nor in clear in Redis.

Three looks at one full flow (sign-in, consent, code exchange, the browser landing on /callback,
refresh, introspection, /api/me, client_credentials, password grant, revocation, plus the failure
paths that log: a replayed code, a reused refresh token, wrong secrets and passwords, Redis down):

1. in-process, uvicorn running in this event loop, every logger captured at DEBUG (uvicorn's access
   and error logs, asgi_oauth, redis, starlette, asyncio);
2. the stdout and stderr of a real ``asgi-oauth serve``, access log included;
3. every key and value under the server's prefix in Redis after the flow (``SCAN`` + a read by type
   + ``DUMP``).

uvicorn's access log prints request targets with their query string, and the browser brings the
authorization code to the demo's /callback in the query. ``asgi-oauth serve`` therefore runs uvicorn
with :func:`asgi_oauth.serve.uvicorn_log_config`, whose filter blanks credential parameters; the
in-process run installs that same filter on the same logger.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn

from asgi_oauth import OAuthSettings, RedisStore, crypto
from asgi_oauth.demo import create_demo_app, ensure_demo_client
from asgi_oauth.serve import RedactCredentials, uvicorn_log_config

from ..serving import free_port, serving
from .stack import DemoClient, http_client, serve_env

pytestmark = pytest.mark.slow

#: Loggers of the server side. The test's own HTTP client (httpx, httpcore) logs the URLs it requests,
#: /callback?code=... among them; that is the client's log, not the server's, and it is left out.
SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "asgi_oauth", "redis", "starlette", "asyncio")
CLIENT_LOGGERS = ("httpx", "httpcore")


def secret_parts(values: Iterable[str]) -> set[str]:
    """Each value and, for ``<family>.<secret>`` tokens and codes, the secret half on its own.

    The family id (before the dot) is not secret: it names the grant and is part of Redis keys."""
    parts = set()
    for value in values:
        if not value:
            continue
        parts.add(value)
        if "." in value:
            parts.add(value.split(".", 1)[1])
    return parts


def leaks(text: str, secrets_: set[str]) -> list[str]:
    return sorted(s[:12] + "..." for s in secrets_ if s in text)


async def full_flow(demo: DemoClient, password: str) -> None:
    """Every endpoint and the failure paths that log; keeps some tokens alive for the Redis dump."""
    await demo.sign_in("alice", password)
    code, verifier = await demo.authorization_code()
    assert (await demo.http.get("/callback", params={"code": code, "state": "st"})).status_code == 200
    exchanged = await demo.exchange(code, verifier)
    assert exchanged.status_code == 200, exchanged.text
    first = exchanged.json()
    refreshed = await demo.refresh(first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    live = refreshed.json()
    for token in (live["access_token"], live["refresh_token"]):
        assert await demo.active(token)
    assert (await demo.me(live["access_token"])).status_code == 200

    machine = (await demo.client_credentials()).json()["access_token"]
    assert (await demo.me(machine)).status_code == 200
    by_password = (await demo.password("alice", password)).json()
    assert (await demo.revoke(by_password["refresh_token"])).status_code == 200
    assert (await demo.me(by_password["access_token"])).status_code == 401

    # Failure paths.
    assert (await demo.exchange(code, verifier)).status_code == 400  # replay: the code's family is revoked
    second = (await demo.exchange(*await demo.authorization_code())).json()
    rotated = (await demo.refresh(second["refresh_token"])).json()
    assert rotated["refresh_token"] and (await demo.refresh(second["refresh_token"])).status_code == 400  # reuse
    wrong = "wrong-" + secrets.token_urlsafe(16)
    demo.seen.add(wrong)
    response = await demo.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(demo.client_id, wrong)
    )
    assert response.status_code == 401
    assert (await demo.password("alice", wrong)).status_code == 400
    response = await demo.http.post("/login", data={"username": "alice", "password": wrong, "next": "/"})
    assert response.status_code == 401
    assert (await demo.me(machine + "x")).status_code == 401
    # A grant left alive (the others were revoked above), so Redis holds a live family too.
    kept = await demo.password("alice", password)
    assert kept.status_code == 200 and await demo.active(kept.json()["refresh_token"])


def flow_secrets(demo: DemoClient, *others: str) -> set[str]:
    session = demo.http.cookies.get("asgi_oauth_demo_session")
    return secret_parts([*demo.seen, demo.secret, *(others), *([session] if session else [])])


# -- 1. in-process, every logger at DEBUG ---------------------------------------------------------


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every server-side logger at DEBUG and propagating to caplog (an earlier uvicorn run in this
    process may have configured uvicorn's loggers not to propagate); restored afterwards."""
    saved = {}
    for name in SERVER_LOGGERS + CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate, logger.disabled)
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, (level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


@asynccontextmanager
async def uvicorn_in_process(app: object, port: int) -> AsyncIterator[str]:
    """uvicorn serving ``app`` on a loopback port in this event loop, logging through the root logger
    (``log_config=None``) with the access log on, and the demo's access-log filter where serve puts it."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True)
    assert uvicorn_log_config()["loggers"]["uvicorn.access"]["filters"] == ["redact_credentials"]
    access = logging.getLogger("uvicorn.access")
    redact = RedactCredentials()
    access.addFilter(redact)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        access.removeFilter(redact)


async def test_logs_in_process_hold_no_secret(
    all_logs: pytest.LogCaptureFixture, redis_url: str, key_prefix: str
) -> None:
    password = "pw-" + secrets.token_urlsafe(12)
    signing_key = secrets.token_urlsafe(32)
    port = free_port()
    settings = OAuthSettings(
        issuer=f"http://127.0.0.1:{port}/oauth",
        redis_url=redis_url,
        key_prefix=key_prefix,
        secret_key=(signing_key,),
        enable_password_grant=True,
    )
    store = RedisStore.from_url(redis_url, key_prefix=key_prefix)
    try:
        registered = await ensure_demo_client(store, settings)
        assert registered is not None
        _, client_secret = registered
        app = create_demo_app(settings, store, users={"alice": password})

        async with uvicorn_in_process(app, port) as base_url, http_client(base_url) as http:
            demo = DemoClient(http, client_secret, base_url)
            await full_flow(demo, password)
            live = sorted(t for t in demo.seen if crypto.family_of(t) is not None)  # tokens and codes
        # Redis unreachable: the outage is logged (a warning per request), the credentials are not.
        down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", key_prefix=key_prefix, timeout=0.5)
        try:
            outage_app = create_demo_app(settings, down, users={"alice": password})
            transport = httpx.ASGITransport(app=outage_app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as offline:
                blind = DemoClient(offline, client_secret, base_url)
                for token in live:
                    assert (await blind.introspect(token)).status_code == 503
                    assert (await blind.me(token)).status_code == 503
                assert (await blind.password("alice", password)).status_code == 503
        finally:
            await down.aclose()
    finally:
        await store.aclose()

    server_records = [r for r in all_logs.records if not r.name.startswith(CLIENT_LOGGERS)]
    names = {r.name for r in server_records}
    assert {"uvicorn.access", "uvicorn.error", "asgi_oauth"} <= names, names
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in server_records)
    assert "/callback?code=[redacted]" in text  # the code reached uvicorn, and was blanked in its log
    outage = [r for r in server_records if r.name == "asgi_oauth" and "unavailable" in r.getMessage()]
    assert outage, "the outage should be logged"
    everything = flow_secrets(demo, password, signing_key)
    assert leaks(text, everything) == []
    print(f"in-process: {len(server_records)} server log records from {sorted(names)}, {len(everything)} secrets")


# -- 2. a real `asgi-oauth serve`, and 3. the Redis it wrote --------------------------------------


def redis_dump(url: str, prefix: str) -> str:
    """Every key under ``prefix`` and its value, read by type, plus its ``DUMP`` serialization."""
    lines = []
    with redis.Redis.from_url(url) as r:
        for key in r.scan_iter(match=f"{prefix}:*", count=500):
            kind = r.type(key).decode()
            if kind == "string":
                value: object = r.get(key)
            elif kind == "hash":
                value = r.hgetall(key)
            elif kind == "zset":
                value = r.zrange(key, 0, -1, withscores=True)
            elif kind == "set":
                value = r.smembers(key)
            elif kind == "list":
                value = r.lrange(key, 0, -1)
            else:
                value = None
            raw = r.dump(key) or b""
            lines.append(f"{key.decode()} {kind} {value!r} {raw!r} {raw.decode('latin-1')!r}")
    return "\n".join(lines)


async def test_serve_output_and_redis_hold_no_secret(tmp_path: Path, redis_url: str) -> None:
    password = "pw-" + secrets.token_urlsafe(12)
    prefix = f"hyg{uuid.uuid4().hex[:10]}"
    env = serve_env(redis_url, key_prefix=prefix, enable_password_grant="1", demo_users=f"alice:{password}")
    signing_key = env["ASGI_OAUTH_SECRET_KEY"]
    with serving(tmp_path / "serve", env) as server:
        async with http_client(server.base_url) as http:
            demo = DemoClient(http, server.client_secret, server.base_url)
            await full_flow(demo, password)
        dump = redis_dump(redis_url, prefix)
    stdout, stderr = server.stdout, server.stderr

    # The banner shows the demo client's secret once, by design (SPEC section 4); nothing after it may.
    banner, _, log = stdout.partition("\nINFO:")
    assert server.client_secret in banner and password not in banner
    assert '"GET /callback?code=[redacted]&state=st HTTP/1.1" 200' in log
    everything = flow_secrets(demo, password, signing_key)
    assert leaks(log + stderr, everything) == []
    assert leaks(banner, everything - secret_parts([server.client_secret])) == []

    # Redis: clients, families, access tokens and markers are all there, each credential only as a digest.
    kinds = {
        line.split(" ")[0].split(":")[2] + " " + line.split(" ")[1]
        for line in dump.splitlines()
        if "{" in line.split(" ")[0]
    }
    assert f"{prefix}:clients hash" in dump, dump[:2000]
    assert {"f string", "a string", "s string", "c string"} <= kinds, kinds
    assert leaks(dump, everything) == []
    print(f"serve: {len(log.splitlines())} log lines, redis: {len(dump.splitlines())} keys, no secret in either")
