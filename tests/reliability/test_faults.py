"""Redis faults under load: a real ``asgi-oauth serve`` (2 uvicorn workers) on a private redis-server that
the test freezes (SIGSTOP), kills (SIGKILL) and restarts on the same port while clients keep calling.

What must hold: while Redis is gone every token-type request answers 503 ``temporarily_unavailable``
JSON and ``/api/me`` answers 503, all within a bound set by ``ASGI_OAUTH_REDIS_TIMEOUT``; never a 500,
never a 200 that could not have been checked, never a bare 401. When Redis is back the same worker
processes serve again. Redis runs with ``appendonly yes`` + ``appendfsync always`` (every acknowledged
write is on disk before the reply), so a crash loses nothing a client was told about: clients and
tokens from before the outage work after the restart. A restart *without* persistence comes back
empty, and then everything fails closed (``test_restart_without_persistence_fails_closed``).

The half-state tests run the protocol in-process on the real ``RedisStore`` and crash or freeze the
real redis-server between (or during) the writes of one operation. A full Redis (maxmemory with
noeviction) answers 503, and the first command after a restart reconnects instead of failing.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from asgi_oauth import OAuthServer, OAuthSettings, RedisStore, User, crypto, new_client
from asgi_oauth.models import Outcome
from asgi_oauth.store.redis import connect

from ..serving import serving
from ..web.helpers import pkce_pair
from .stack import DemoClient, RedisProcess, http_client, json_error, redis_server, serve_env

pytestmark = pytest.mark.slow

#: ASGI_OAUTH_REDIS_TIMEOUT for the server under test.
TIMEOUT = 0.5
#: The longest any request may take, Redis frozen or not: one timed-out round trip fails the request,
#: so three timeouts plus scheduling slack is generous.
LATENCY_BOUND = 3 * TIMEOUT + 1.0
OUTAGE = 3.0
#: Longest wait for every operation to succeed again once Redis is back.
RECOVERY_LIMIT = 10.0
USERS = 8
OPS = ("token", "introspect", "me", "refresh", "revoke", "password")
TOKEN_TYPE = frozenset({"token", "introspect", "refresh", "revoke", "password"})


@dataclass(frozen=True)
class Sample:
    op: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    error: str | None
    worker: str | None

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass
class Outage:
    kind: str
    began: float
    ended: float = 0.0
    back: float = 0.0
    #: End of the steady period after recovery (the next outage starts after it).
    steady: float = 0.0
    recovered: dict[str, float] = field(default_factory=dict)


@dataclass
class Mine:
    """What one simulated client holds: a refresh family and some client_credentials tokens."""

    family: dict[str, Any] | None = None
    tokens: list[str] = field(default_factory=list)


@dataclass
class Traffic:
    """Steady traffic from ``USERS`` concurrent loops, each one client with its own tokens."""

    demo: DemoClient
    password: str
    samples: list[Sample] = field(default_factory=list)
    #: client_credentials tokens answered with 200 and never sent to /revoke: must all live at the end.
    kept: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, op: str, request: Awaitable[httpx.Response]) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await request
        except httpx.HTTPError:
            self.samples.append(Sample(op, started, time.monotonic(), 0, None, None))
            return None
        error = json_error(response) if response.status_code != 200 else None
        worker = response.headers.get("x-demo-worker")
        self.samples.append(Sample(op, started, time.monotonic(), response.status_code, error, worker))
        return response

    async def user(self, seed: int) -> None:
        """One client: a random operation at a time, on tokens only it uses (so no two loops race)."""
        rng = random.Random(seed)
        mine = Mine()
        steps = (self.issue, self.introspect, self.me, self.refresh, self.revoke)
        for _ in range(100_000):  # bounded; the stop event ends it long before
            if self.stop.is_set():
                return
            if mine.family is None:
                got = await self.call("password", self.demo.password("alice", self.password))
                if got is not None and got.status_code == 200:
                    mine.family = got.json()
            await rng.choice(steps)(mine)
            await asyncio.sleep(0)

    async def issue(self, mine: Mine) -> None:
        issued = await self.call("token", self.demo.client_credentials())
        if issued is not None and issued.status_code == 200:
            mine.tokens.append(issued.json()["access_token"])

    async def introspect(self, mine: Mine) -> None:
        if mine.tokens:
            await self.call("introspect", self.demo.introspect(mine.tokens[-1]))

    async def me(self, mine: Mine) -> None:
        bearer = mine.family["access_token"] if mine.family is not None else mine.tokens[-1] if mine.tokens else None
        if bearer is not None:
            await self.call("me", self.demo.me(bearer))

    async def refresh(self, mine: Mine) -> None:
        if mine.family is None:
            return
        refreshed = await self.call("refresh", self.demo.refresh(mine.family["refresh_token"]))
        if refreshed is not None and refreshed.status_code == 200:
            mine.family = refreshed.json()
        elif refreshed is not None and refreshed.status_code == 400:
            # Only after a refresh whose reply was lost but which Redis applied: presenting the old
            # token again is reuse, and the family is revoked (RFC 9700 section 4.14.2).
            mine.family = None

    async def revoke(self, mine: Mine) -> None:
        if len(mine.tokens) >= 3:  # revoke one, keep one for the final check
            await self.call("revoke", self.demo.revoke(mine.tokens.pop(0)))
            self.kept.append(mine.tokens.pop(0))

    async def prober(self, token: str) -> None:
        """A resource server's steady calls to the protected route, so every outage window has some."""
        for _ in range(100_000):
            if self.stop.is_set():
                return
            await self.call("me", self.demo.me(token))
            await asyncio.sleep(0.05)

    def between(self, began: float, ended: float) -> list[Sample]:
        return [s for s in self.samples if s.started >= began and s.ended <= ended]


async def wait_for_recovery(traffic: Traffic, since: float) -> dict[str, float]:
    """Seconds from ``since`` to the first 200 of every operation started after it."""
    deadline = since + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        firsts: dict[str, float] = {}
        for s in traffic.samples:
            if s.started >= since and s.status == 200 and s.op not in firsts:
                firsts[s.op] = s.ended - since
        if set(firsts) >= set(OPS) - {"password"}:
            return firsts
        await asyncio.sleep(0.05)
    raise AssertionError(f"service did not recover within {RECOVERY_LIMIT}s: {Counter(_statuses(traffic))}")


def _statuses(traffic: Traffic) -> list[tuple[str, int]]:
    return [(s.op, s.status) for s in traffic.samples]


#: The validation cache's default lease: how long a frozen Redis may still be answered for from memory.
LEASE = 0.25


def check_outage(traffic: Traffic, outage: Outage) -> list[Sample]:
    """Every request that started after Redis went away and ended before it was back: 503 as specified,
    except a protected-route request the worker answered from memory within the lease of a freeze (a crash
    closes the subscription at once, which empties the memory)."""
    window = traffic.between(outage.began + 0.05, outage.ended)
    assert len(window) >= USERS, f"too little traffic during the {outage.kind} outage: {len(window)}"
    for sample in window:
        if sample.op == "me" and outage.kind == "freeze" and sample.started < outage.began + LEASE:
            assert sample.status in (200, 503), sample
            continue
        assert sample.status == 503, sample
        assert sample.error == "temporarily_unavailable", sample
    return window


async def test_redis_outage_under_load(tmp_path: Path) -> None:
    password = secrets.token_urlsafe(12)
    with redis_server(tmp_path / "redis", persistent=True) as redis:
        env = serve_env(
            redis.url, redis_timeout=str(TIMEOUT), enable_password_grant="1", demo_users=f"alice:{password}"
        )
        with serving(tmp_path / "serve", env, workers=2) as server:
            workers_before = server.workers()
            async with http_client(server.base_url, connections=USERS * 2) as http:
                demo = DemoClient(http, server.client_secret, server.base_url)
                before = (await demo.password("alice", password)).json()  # issued before any outage
                traffic = Traffic(demo, password)
                users = [asyncio.create_task(traffic.user(seed)) for seed in range(USERS)]
                users.append(asyncio.create_task(traffic.prober(before["access_token"])))
                outages: list[Outage] = []
                try:
                    await asyncio.sleep(1.5)
                    for kind, go, back in (
                        ("freeze", redis.freeze, redis.thaw),
                        ("crash", redis.kill, redis.start),
                    ):
                        outage = Outage(kind, time.monotonic())
                        go()
                        await asyncio.sleep(OUTAGE)
                        outage.ended = time.monotonic()
                        back()
                        outage.back = time.monotonic()
                        outage.recovered = await wait_for_recovery(traffic, outage.back)
                        outages.append(outage)
                        await asyncio.sleep(1.0)
                        outage.steady = time.monotonic()
                finally:
                    traffic.stop.set()
                    await asyncio.wait_for(asyncio.gather(*users), timeout=30)

                # The same processes serve again: nothing was restarted.
                assert server.proc.poll() is None
                assert server.workers() == workers_before
                answered_by = {s.worker for s in traffic.samples if s.worker is not None}
                assert answered_by <= {str(pid) for pid in workers_before}

                # Nothing was lost: every token handed out (and not revoked) still works.
                for token in traffic.kept:
                    assert await demo.active(token), "a token answered with 200 is not active"
                assert (await demo.me(before["access_token"])).status_code == 200
                refreshed = await demo.refresh(before["refresh_token"])
                assert refreshed.status_code == 200, refreshed.text

            report(traffic, outages, server.stderr)


def report(traffic: Traffic, outages: list[Outage], stderr: str) -> None:
    samples = traffic.samples
    by_status = Counter(s.status for s in samples)
    assert by_status[0] == 0, "a request got no HTTP answer"
    assert not [s for s in samples if s.status >= 500 and s.status != 503], "a server error other than 503"
    assert "Traceback" not in stderr
    unexpected = [s for s in samples if s.status not in (200, 503) and not (s.op == "refresh" and s.status == 400)]
    assert not unexpected, unexpected[:5]
    for s in samples:
        if s.status == 503:
            assert s.error == "temporarily_unavailable", s
        if s.op == "refresh" and s.status == 400:
            assert s.error == "invalid_grant", s
    slowest = max(samples, key=lambda s: s.latency)
    assert slowest.latency < LATENCY_BOUND, slowest

    lines = [f"requests: {len(samples)}  by status: {dict(sorted(by_status.items()))}"]
    lines.append("by operation: " + str(dict(sorted(Counter(f"{s.op}:{s.status}" for s in samples).items()))))
    for outage in outages:
        window = check_outage(traffic, outage)
        me = [s for s in window if s.op == "me"]
        assert me, f"no /api/me request during the {outage.kind} outage"
        worst = max(s.latency for s in window)
        assert worst < LATENCY_BOUND
        recovery = max(outage.recovered.values())
        after = [s for s in samples if outage.back <= s.started and s.ended < outage.steady and s.status == 503]
        last = max((s.ended - outage.back for s in after), default=0.0)
        lines.append(
            f"{outage.kind}: {len(window)} requests during the outage, all 503 "
            f"(token-type {sum(s.op in TOKEN_TYPE for s in window)}, /api/me {len(me)}); "
            f"max latency {worst * 1000:.0f} ms; every operation answered 200 again within "
            f"{recovery * 1000:.0f} ms of Redis being back "
            + str({op: f"{t * 1000:.0f} ms" for op, t in sorted(outage.recovered.items())})
            + f"; then {len(after)} more 503s (stale pooled connections), the last {last * 1000:.0f} ms after"
        )
    lines.append(
        f"overall max latency {slowest.latency * 1000:.0f} ms ({slowest.op}); {len(traffic.kept)} kept tokens active"
    )
    causes = Counter(line.rsplit(": ", 1)[-1] for line in stderr.splitlines() if "unavailable" in line)
    lines.append(f"logged causes of the 503s: {dict(causes)}")
    print("\n".join(lines))


async def test_restart_without_persistence_fails_closed(tmp_path: Path) -> None:
    """A Redis that restarts empty has forgotten every client and token: requests are refused, not served."""
    with redis_server(tmp_path / "redis", persistent=False) as redis:
        env = serve_env(redis.url, redis_timeout=str(TIMEOUT), client_cache_ttl="0")
        with serving(tmp_path / "serve", env) as server:
            async with http_client(server.base_url) as http:
                demo = DemoClient(http, server.client_secret, server.base_url)
                token = (await demo.client_credentials()).json()["access_token"]
                assert (await demo.me(token)).status_code == 200

                redis.kill()
                redis.start()

                # A pooled connection to the dead server fails its first command (503) before the
                # pool reconnects; redis-py does not retry by default. Bounded: the pool is small.
                me = await demo.me(token)
                for _ in range(20):
                    if me.status_code != 503:
                        break
                    me = await demo.me(token)
                assert me.status_code == 401 and json_error(me) == "invalid_token"
                for response in (await demo.client_credentials(), await demo.introspect(token)):
                    assert response.status_code == 401 and json_error(response) == "invalid_client"
            assert "Traceback" not in server.stderr


# -- half-state: Redis dies (or stalls) inside one operation --------------------------------------

USER = User("u-alice", "alice")
REDIRECT = "https://web.test/cb"


async def signed_in(request: Request) -> User:
    return USER


@dataclass
class InProcess:
    http: httpx.AsyncClient
    secret: str

    async def token(self, **form: str) -> httpx.Response:
        return await self.http.post("/oauth/token", data=form, auth=("web", self.secret))

    async def code(self) -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": "web",
            "redirect_uri": REDIRECT,
            "scope": "read",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = await self.http.get("/oauth/authorize", params=query)
        assert response.status_code == 302, response.text
        return httpx.URL(response.headers["location"]).params["code"], verifier

    async def exchange(self, code: str, verifier: str) -> httpx.Response:
        return await self.token(
            grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
        )

    async def active(self, token: str) -> bool:
        response = await self.http.post("/oauth/introspect", data={"token": token}, auth=("web", self.secret))
        assert response.status_code == 200, response.text
        return bool(response.json()["active"])


def in_process(store: RedisStore) -> InProcess:
    """The server mounted in a host app, a signed-in user, one first-party client; over ASGITransport."""
    client, secret = new_client(
        name="web",
        client_id="web",
        first_party=True,
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        scope="read",
    )
    assert secret is not None
    settings = OAuthSettings(issuer="https://auth.test/oauth", secret_key=("k" * 40,), redis_timeout=TIMEOUT)
    oauth = OAuthServer(settings, store=store, clients=[client], user_resolver=signed_in)
    app = Starlette(routes=[Mount("/oauth", app=oauth)])
    return InProcess(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://auth.test"), secret)


class CrashesAfterReadingTheCode(RedisStore):
    """The real store; the real redis-server is SIGKILLed right after ``get_code`` answered, i.e.
    between the two round trips of a code exchange (read the code, then redeem it with the tokens)."""

    def __init__(self, redis: RedisProcess, key_prefix: str) -> None:
        super().__init__(connect(redis.url, timeout=TIMEOUT), key_prefix=key_prefix)
        self.server = redis

    async def get_code(self, family_id: str, code_digest: str) -> Any:
        found = await super().get_code(family_id, code_digest)
        self.server.kill()
        return found


class StallsDuringRotation(RedisStore):
    """The real store; the real redis-server is frozen while ``rotate_refresh`` waits for its reply, so
    the command reaches Redis but the answer does not come back within the timeout."""

    def __init__(self, redis: RedisProcess, key_prefix: str) -> None:
        super().__init__(connect(redis.url, timeout=TIMEOUT), key_prefix=key_prefix)
        self.server = redis
        self.stall = False

    async def rotate_refresh(self, *args: Any, **kwargs: Any) -> Outcome:
        if not self.stall:
            return await super().rotate_refresh(*args, **kwargs)
        self.server.freeze()
        try:
            return await super().rotate_refresh(*args, **kwargs)
        finally:
            self.server.thaw()


@pytest.fixture
async def raw_redis() -> AsyncIterator[Callable[[str], aioredis.Redis]]:
    opened: list[aioredis.Redis] = []

    def open_(url: str) -> aioredis.Redis:
        opened.append(aioredis.Redis.from_url(url))
        return opened[-1]

    try:
        yield open_
    finally:
        for client in opened:
            await client.aclose()


async def family_state(r: aioredis.Redis, family_id: str) -> dict[str, bytes | None]:
    """Every key that carries the family's hash tag, with its value (whatever the key layout)."""
    keys = sorted(await r.keys(f"*{{{family_id}}}*"))
    values = await r.mget(keys) if keys else []
    return {key.decode(): value for key, value in zip(keys, values, strict=True)}


async def test_crash_between_reading_a_code_and_redeeming_it(
    tmp_path: Path, key_prefix: str, raw_redis: Callable[[str], aioredis.Redis]
) -> None:
    with redis_server(tmp_path / "redis", persistent=True) as redis:
        crashing = CrashesAfterReadingTheCode(redis, key_prefix)
        server = in_process(crashing)
        try:
            code, verifier = await server.code()
            family_id = crypto.family_of(code)
            assert family_id is not None

            answer = await server.exchange(code, verifier)

            # Tokens were minted in memory but never stored, so none is returned.
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "temporarily_unavailable"
            assert "access_token" not in answer.text and "refresh_token" not in answer.text
        finally:
            await server.http.aclose()
            await crashing.aclose()

        redis.start()  # same port, same append-only file
        r = raw_redis(redis.url)
        before = await family_state(r, family_id)
        # All or nothing: the code was not spent, since spending it and storing the tokens are one step.
        assert len(before) == 1 and next(iter(before.values())) not in (b"spent", b"replayed"), before

        store = RedisStore.from_url(redis.url, key_prefix=key_prefix, timeout=TIMEOUT)
        server = in_process(store)
        try:
            again = await server.exchange(code, verifier)
            replay = await server.exchange(code, verifier)
        finally:
            await server.http.aclose()
            await store.aclose()
        # The client's retry succeeds once; a further use is a replay.
        assert again.status_code == 200 and "refresh_token" in again.json(), again.text
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
        final = await family_state(r, family_id)
        assert list(final.values()) == [b"replayed"], final


async def test_refresh_whose_reply_is_lost(tmp_path: Path, key_prefix: str) -> None:
    """A timed-out command may still run: Redis executes what it already received once it resumes.

    The client got 503 and no tokens; if the rotation did happen, the tokens it stored are known to
    nobody, and the client's retry with its (now spent) refresh token is reuse: the family is revoked.
    Either way no live token exists that the client was not given, and nothing is returned unstored.
    """
    with redis_server(tmp_path / "redis", persistent=False) as redis:
        store = StallsDuringRotation(redis, key_prefix)
        server = in_process(store)
        try:
            first = (await server.exchange(*await server.code())).json()
            tokens = (await server.token(grant_type="refresh_token", refresh_token=first["refresh_token"])).json()
            family_id = crypto.family_of(tokens["refresh_token"])
            assert family_id is not None

            store.stall = True
            started = time.monotonic()
            lost = await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
            assert time.monotonic() - started < LATENCY_BOUND
            store.stall = False

            assert lost.status_code == 503 and lost.json()["error"] == "temporarily_unavailable"
            assert "access_token" not in lost.text
            await asyncio.sleep(0.2)  # Redis resumed and handles what was queued
            family = (await store.lookup(family_id)).family
            assert family is not None
            rotated = family.refresh_digest != crypto.digest(tokens["refresh_token"], "refresh")

            retry = await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
            if rotated:
                # Reuse of a spent token: refused, and the whole family revoked.
                assert retry.status_code == 400 and retry.json()["error"] == "invalid_grant", retry.text
                for token in (tokens["access_token"], tokens["refresh_token"], first["access_token"]):
                    assert not await server.active(token)
                assert (await store.lookup(family_id)).family is None
            else:
                assert retry.status_code == 200, retry.text
                assert await server.active(retry.json()["access_token"])
            print(f"lost refresh reply: Redis {'applied' if rotated else 'dropped'} the timed-out rotation")
        finally:
            await server.http.aclose()
            await store.aclose()


async def test_full_redis_answers_503_not_500(tmp_path: Path, key_prefix: str) -> None:
    """Redis at ``maxmemory`` with ``noeviction`` refuses writes (OOM): issuing must fail as unavailable."""
    with redis_server(tmp_path / "redis") as redis:
        store = RedisStore.from_url(redis.url, key_prefix=key_prefix, timeout=TIMEOUT)
        server = in_process(store)
        admin = aioredis.Redis.from_url(redis.url)
        try:
            tokens = (await server.exchange(*await server.code())).json()
            code, verifier = await server.code()
            await admin.config_set("maxmemory", 1)  # every write that needs memory is refused
            try:
                answers = [
                    await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"]),
                    await server.exchange(code, verifier),
                ]
                assert await server.active(tokens["access_token"])  # reads still work
            finally:
                await admin.config_set("maxmemory", 0)
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"] == "temporarily_unavailable"
            again = await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
            assert again.status_code == 200, again.text
        finally:
            await admin.aclose()
            await server.http.aclose()
            await store.aclose()


async def test_first_command_after_a_restart_succeeds(tmp_path: Path, key_prefix: str) -> None:
    with redis_server(tmp_path / "redis") as redis:
        store = RedisStore.from_url(redis.url, key_prefix=key_prefix, timeout=TIMEOUT)
        try:
            await store.ping()
            redis.kill()
            redis.start()
            await store.ping()
        finally:
            await store.aclose()
