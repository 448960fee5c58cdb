"""Soak: ``asgi-oauth serve`` (2 workers, Redis) under mixed loopback traffic, then an audit.

Run it alone with ``nox -s soak`` (60 s) or ``python -m tests.reliability.soak --duration 60``;
``tests/reliability/test_soak.py`` runs a short one in the suite.

The load generator is one asyncio process with ``--concurrency`` loops against 127.0.0.1, bounded by
``--duration`` and ``--max-requests``. Each loop does one random operation at a time -- issue
(client_credentials, password grant, now and then a full authorization code flow through the consent
page), introspect, ``GET /api/me``, refresh, revoke -- on tokens it takes out of a shared pool and puts
back, so no two loops ever use one token at once and the expected state of every token is known:

* active: every access token issued and not revoked (in-family ones while their family lives), and
  the current refresh token of every live family;
* inactive: revoked tokens, every token of a revoked family, and rotated-away refresh tokens.

During the run every answer is checked against that model; at the end every expected-active token
(up to ``--check-limit``, sampled) must introspect active ("zero lost tokens") and every
expected-inactive one inactive. Worker memory is read from ``/proc/<pid>/status`` (VmRSS) before the
load, after a warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from ..serving import Server, serving
from .stack import DemoClient, RedisProcess, http_client, redis_server, rss_bytes, serve_env

MIB = 1024 * 1024
#: Working-set sizes: beyond these, the oldest tokens are retired (kept for the final audit only).
MAX_LONE, MAX_FAMILIES = 400, 200
#: Operation weights: mostly validation, as in real traffic, plus a steady stream of writes.
WEIGHTS = {
    "client_credentials": 14,
    "password": 5,
    "code_flow": 1,
    "introspect": 25,
    "me": 30,
    "refresh": 15,
    "revoke": 10,
}


@dataclass
class Family:
    refresh: str
    access: list[str]
    spent: list[str] = field(default_factory=list)


#: Seconds around an access token's expiry in which the model asks nothing of it (clocks and request times).
EXPIRY_MARGIN = 10.0


@dataclass
class Model:
    """Every token the load generator was given, and whether it must be active. With ``lifetime`` (the server's
    access token lifetime), an access token is used only while well within it, and expected expired after it."""

    lifetime: float | None = None
    issued_at: dict[str, float] = field(default_factory=dict)
    lone: deque[str] = field(default_factory=deque)
    families: deque[Family] = field(default_factory=deque)
    retired_lone: list[str] = field(default_factory=list)
    retired_families: list[Family] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def issued(self, token: str) -> str:
        self.issued_at[token] = time.monotonic()
        return token

    def age(self, token: str) -> float:
        return time.monotonic() - self.issued_at.get(token, time.monotonic())

    def fresh(self, token: str) -> bool:
        return self.lifetime is None or self.age(token) < self.lifetime - EXPIRY_MARGIN

    def expired(self, token: str) -> bool:
        return self.lifetime is not None and self.age(token) > self.lifetime + EXPIRY_MARGIN

    def add_lone(self, token: str) -> None:
        self.lone.append(self.issued(token))
        if len(self.lone) > MAX_LONE:
            self.retired_lone.append(self.lone.popleft())

    def add_family(self, family: Family) -> None:
        self.families.append(family)
        if len(self.families) > MAX_FAMILIES:
            self.retired_families.append(self.families.popleft())

    def expected_active(self) -> list[str]:
        live = [*self.families, *self.retired_families]
        access = [*self.lone, *self.retired_lone, *(t for f in live for t in f.access)]
        return [*(t for t in access if self.fresh(t)), *(f.refresh for f in live)]

    def expected_inactive(self) -> list[str]:
        live = [*self.families, *self.retired_families]
        access = [*self.lone, *self.retired_lone, *(t for f in live for t in f.access)]
        return [*self.revoked, *(t for f in live for t in f.spent), *(t for t in access if self.expired(t))]


@dataclass
class Result:
    duration: float
    statuses: Counter[int] = field(default_factory=Counter)
    by_op: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: Answers that contradict the model (a token that should work did not, or the reverse).
    mismatches: list[str] = field(default_factory=list)
    issued: int = 0
    checked_active: int = 0
    lost: int = 0
    #: Expected-active tokens that came near their expiry before the audit reached them (not judged).
    expired_in_audit: int = 0
    checked_inactive: int = 0
    zombies: int = 0
    expected_active: int = 0
    expected_inactive: int = 0
    rss_start: dict[int, int] = field(default_factory=dict)
    rss_warm: dict[int, int] = field(default_factory=dict)
    rss_end: dict[int, int] = field(default_factory=dict)
    #: (seconds into the run, RSS by worker, Redis keys, Redis used_memory), sampled while the load runs.
    rss_timeline: list[tuple[float, dict[int, int], int, int]] = field(default_factory=list)
    by_worker: Counter[str] = field(default_factory=Counter)
    redis_keys: int = 0
    redis_memory: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def problems(self, rss_limit: int = 50 * MIB) -> list[str]:
        found = []
        errors = {status: n for status, n in self.statuses.items() if status >= 500 or status == 0}
        if errors:
            found.append(f"server errors or no answer: {errors}")
        if self.mismatches:
            found.append(f"{len(self.mismatches)} answers contradict the model, e.g. {self.mismatches[:3]}")
        if self.lost:
            found.append(f"{self.lost} of {self.checked_active} tokens that must be active are not (lost)")
        if self.zombies:
            found.append(f"{self.zombies} of {self.checked_inactive} revoked or spent tokens are still active")
        if len(self.rss_start) < 2 or set(self.rss_start) != set(self.rss_end):
            found.append(f"expected 2 workers throughout, got {sorted(self.rss_start)} then {sorted(self.rss_end)}")
        for pid, start in self.rss_start.items():
            end = self.rss_end.get(pid, 0)
            if end >= start + rss_limit:
                found.append(f"worker {pid} grew from {start / MIB:.1f} to {end / MIB:.1f} MiB")
        if len(self.by_worker) < 2:
            found.append(f"only {len(self.by_worker)} worker answered")
        return found

    def summary(self) -> str:
        lines = [
            f"soak: {self.duration:.1f} s, {self.requests} requests ({self.requests / self.duration:.0f}/s), "
            f"by status {dict(sorted(self.statuses.items()))}",
            "by operation: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_op.items())),
            "latency ms (p50/p99/max): "
            + ", ".join(
                f"{op} {_ms(statistics.median(v))}/{_ms(_p99(v))}/{_ms(max(v))}"
                for op, v in sorted(self.latencies.items())
                if v
            ),
            f"answered by workers: {dict(self.by_worker)}",
            f"tokens issued: {self.issued}; expected active {self.expected_active}, checked {self.checked_active}, "
            f"lost {self.lost} (and {self.expired_in_audit} expired before their check); "
            f"expected inactive {self.expected_inactive}, checked {self.checked_inactive}, "
            f"still active {self.zombies}; model mismatches during the run {len(self.mismatches)}",
            f"redis: {self.redis_keys} keys, {self.redis_memory / MIB:.1f} MiB used",
        ]
        for at, rss, keys, used in self.rss_timeline:
            lines.append(
                f"at {at:4.0f} s: "
                + ", ".join(f"worker {p} {v / MIB:.1f} MiB" for p, v in sorted(rss.items()))
                + f"; redis {keys} keys, {used / MIB:.1f} MiB"
            )
        for pid in sorted(self.rss_start):
            start, warm, end = self.rss_start[pid], self.rss_warm.get(pid, 0), self.rss_end.get(pid, 0)
            lines.append(
                f"worker {pid} RSS: start {start / MIB:.1f} MiB, after warm-up {warm / MIB:.1f} MiB, "
                f"end {end / MIB:.1f} MiB (end - start {(end - start) / MIB:+.1f} MiB, "
                f"end - warm {(end - warm) / MIB:+.1f} MiB)"
            )
        return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


#: Seconds the load may run on past its deadline while only one worker has answered, or too few requests were made.
SPREAD_GRACE = 30.0


class Load:
    def __init__(
        self,
        demo: DemoClient,
        password: str,
        result: Result,
        *,
        deadline: float,
        max_requests: int,
        min_requests: int = 0,
        lifetime: float | None = None,
    ) -> None:
        self.min_requests = min_requests
        self.demo = demo
        self.user_password = password
        self.result = result
        self.model = Model(lifetime=lifetime)
        self.deadline = deadline
        self.max_requests = max_requests

    def running(self) -> bool:
        """Until the deadline; past it (up to a bound) until every worker answered and ``min_requests`` were made,
        however slow a loaded machine makes them."""
        if self.result.requests >= self.max_requests:
            return False
        now = time.monotonic()
        short = len(self.result.by_worker) < 2 or self.result.requests < self.min_requests
        return now < self.deadline or (short and now < self.deadline + SPREAD_GRACE)

    async def call(self, op: str, request: Awaitable[httpx.Response]) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.result.statuses[0] += 1
            self.result.by_op[f"{op}:error"] += 1
            self.result.mismatches.append(f"{op}: no answer ({type(exc).__name__})")
            return None
        self.result.latencies.setdefault(op, []).append(time.monotonic() - started)
        self.result.statuses[response.status_code] += 1
        self.result.by_op[f"{op}:{response.status_code}"] += 1
        worker = response.headers.get("x-demo-worker")
        if worker is not None:
            self.result.by_worker[worker] += 1
        return response

    def expect(self, op: str, response: httpx.Response | None, status: int = 200) -> bool:
        if response is None:
            return False
        if response.status_code != status:
            self.result.mismatches.append(f"{op}: {response.status_code} {response.text[:120]}")
            return False
        return True

    async def loop(self, seed: int) -> None:
        rng = random.Random(seed)
        ops, weights = list(WEIGHTS), list(WEIGHTS.values())
        while self.running():
            op = rng.choices(ops, weights)[0]
            await getattr(self, op)(rng)

    # -- operations --------------------------------------------------------------------------------
    async def client_credentials(self, rng: random.Random) -> None:
        response = await self.call("client_credentials", self.demo.client_credentials())
        if self.expect("client_credentials", response):
            assert response is not None
            self.model.add_lone(response.json()["access_token"])
            self.result.issued += 1

    async def password(self, rng: random.Random) -> None:
        response = await self.call("password", self.demo.password("alice", self.user_password))
        if self.expect("password", response):
            assert response is not None
            self._new_family(response.json())

    async def code_flow(self, rng: random.Random) -> None:
        started = time.monotonic()
        try:
            code, verifier = await self.demo.authorization_code()
        except (AssertionError, httpx.HTTPError) as exc:
            self.result.mismatches.append(f"code_flow: /authorize or consent failed: {exc}"[:200])
            return
        # The two /authorize requests (consent page, then "Allow") are traffic too.
        self.result.statuses.update((200, 303))
        self.result.by_op.update(("authorize:200", "authorize:303"))
        self.result.latencies.setdefault("authorize", []).append(time.monotonic() - started)
        response = await self.call("code_exchange", self.demo.exchange(code, verifier))
        if self.expect("code_exchange", response):
            assert response is not None
            self._new_family(response.json())

    def _new_family(self, body: dict[str, str]) -> None:
        self.model.add_family(Family(body["refresh_token"], [self.model.issued(body["access_token"])]))
        self.result.issued += 2

    def _take_token(self, rng: random.Random) -> tuple[str, Family | None] | None:
        """An access token (or a family, for its tokens) taken out of the pool; put it back after use. Tokens
        near their expiry are retired instead (kept for the audit)."""
        model = self.model
        while model.lone and not model.fresh(model.lone[0]):
            model.retired_lone.append(model.lone.popleft())
        if model.families and (not model.lone or rng.random() < 0.5):
            family = model.families.popleft()
            usable = [t for t in family.access if model.fresh(t)]
            if usable:
                return rng.choice(usable), family
            model.families.append(family)  # its refresh token lives on; a refresh gives it a new access token
        if model.lone:
            return model.lone.popleft(), None
        return None

    def _put_back(self, token: str, family: Family | None) -> None:
        if family is not None:
            self.model.families.append(family)
        else:
            self.model.lone.append(token)

    async def introspect(self, rng: random.Random) -> None:
        taken = self._take_token(rng)
        if taken is None:
            return await self.client_credentials(rng)
        token, family = taken
        if family is not None and rng.random() < 0.3:
            token = family.refresh
        try:
            response = await self.call("introspect", self.demo.introspect(token))
            if self.expect("introspect", response):
                assert response is not None
                body = response.json()
                if body.get("active") is not True or body.get("client_id") != self.demo.client_id:
                    self.result.mismatches.append(f"introspect: live token answered {body}")
        finally:
            self._put_back(token, family)

    async def me(self, rng: random.Random) -> None:
        taken = self._take_token(rng)
        if taken is None:
            return await self.client_credentials(rng)
        token, family = taken
        try:
            response = await self.call("me", self.demo.me(token))
            if self.expect("me", response):
                assert response is not None
                if response.json().get("client_id") != self.demo.client_id:
                    self.result.mismatches.append(f"me: {response.text[:120]}")
        finally:
            self._put_back(token, family)

    async def refresh(self, rng: random.Random) -> None:
        if not self.model.families:
            return await self.password(rng)
        family = self.model.families.popleft()
        response = await self.call("refresh", self.demo.refresh(family.refresh))
        if response is None:
            return  # unanswered: rotated or not, nobody knows, so the family leaves the model (and the audit)
        if self.expect("refresh", response):
            body = response.json()
            family.spent.append(family.refresh)
            family.refresh = body["refresh_token"]
            family.access.append(self.model.issued(body["access_token"]))
            self.result.issued += 2
        self.model.families.append(family)

    async def revoke(self, rng: random.Random) -> None:
        if self.model.families and (not self.model.lone or rng.random() < 0.4):
            family = self.model.families.popleft()
            response = await self.call("revoke", self.demo.revoke(family.refresh))
            if self.expect("revoke", response):
                self.model.revoked.extend((*family.access, family.refresh, *family.spent))
            else:
                self.model.families.append(family)
        elif self.model.lone:
            token = self.model.lone.popleft()
            response = await self.call("revoke", self.demo.revoke(token))
            if self.expect("revoke", response):
                self.model.revoked.append(token)
            else:
                self.model.lone.append(token)
        else:
            await self.client_credentials(rng)


async def audit(demo: DemoClient, result: Result, model: Model, *, check_limit: int, seed: int = 1) -> None:
    """Introspect (a sample of) every token: expected-active ones must be active, the others not."""
    rng = random.Random(seed)
    active, inactive = model.expected_active(), model.expected_inactive()
    result.expected_active, result.expected_inactive = len(active), len(inactive)
    sample_active = rng.sample(active, min(check_limit, len(active)))
    sample_inactive = rng.sample(inactive, min(check_limit, len(inactive)))
    gate = asyncio.Semaphore(32)

    async def state(token: str) -> bool | None:
        async with gate:
            for _ in range(3):  # a transport hiccup of the checker is not a lost token
                try:
                    response = await demo.introspect(token)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    return bool(response.json()["active"])
                result.mismatches.append(f"audit: introspection answered {response.status_code}")
                return None
            return None

    async def still_active(token: str) -> bool | None:
        """``None`` when the token reached its expiry margin before its answer came (a long audit), so an
        inactive answer proves nothing."""
        if await state(token):
            return True
        return False if model.fresh(token) else None

    actives = await asyncio.gather(*(still_active(t) for t in sample_active))
    inactives = await asyncio.gather(*(state(t) for t in sample_inactive))
    result.expired_in_audit = sum(a is None for a in actives)
    result.checked_active = len(sample_active) - result.expired_in_audit
    result.lost = sum(a is False for a in actives)
    result.checked_inactive, result.zombies = len(sample_inactive), sum(a is not False for a in inactives)


def worker_rss(server: Server) -> dict[int, int]:
    return {pid: rss_bytes(pid) for pid in server.workers()}


async def drive(
    server: Server,
    password: str,
    redis_url: str,
    *,
    duration: float,
    concurrency: int = 16,
    max_requests: int = 2_000_000,
    min_requests: int = 0,
    check_limit: int = 5000,
    lifetime: float | None = None,
    rss_every: float = 60.0,
) -> Result:
    """Run the mixed load against ``server`` for ``duration`` seconds, then audit every token."""
    result = Result(duration=duration)
    # Half the connections are opened anew as they come back idle, so every worker gets a share of the load.
    async with http_client(server.base_url, connections=concurrency + 8, keepalive=max(2, concurrency // 2)) as http:
        demo = DemoClient(http, server.client_secret, server.base_url)
        await demo.sign_in("alice", password)
        result.rss_start = worker_rss(server)
        started = time.monotonic()
        load = Load(
            demo,
            password,
            result,
            deadline=started + duration,
            max_requests=max_requests,
            min_requests=min_requests,
            lifetime=lifetime,
        )
        loops = [asyncio.create_task(load.loop(seed)) for seed in range(concurrency)]
        try:
            await asyncio.sleep(min(duration * 0.2, 10))
            result.rss_warm = worker_rss(server)
            running = asyncio.gather(*loops)
            while not running.done():  # the workers' memory over time, to see it level off
                done, _ = await asyncio.wait([running], timeout=rss_every)
                if not done:
                    keys, used = redis_usage(redis_url)
                    result.rss_timeline.append((time.monotonic() - started, worker_rss(server), keys, used))
                assert time.monotonic() < started + duration + 60 + SPREAD_GRACE, "the load never ended"
            await running
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        result.duration = time.monotonic() - started
        result.rss_end = worker_rss(server)
        await audit(demo, result, load.model, check_limit=check_limit)
    result.redis_keys, result.redis_memory = redis_usage(redis_url)
    return result


def redis_usage(redis_url: str) -> tuple[int, int]:
    """Keys and ``used_memory`` of the soak's private Redis."""
    with redis.Redis.from_url(redis_url) as r:
        return int(r.dbsize()), int(r.info("memory")["used_memory"])


@contextmanager
def soak_stack(
    directory: Path, *, workers: int = 2, lifetime: float | None = None
) -> Iterator[tuple[Server, RedisProcess, str]]:
    """A private redis-server and ``asgi-oauth serve --workers N`` on it, with the password grant on (and
    access tokens that live ``lifetime`` seconds)."""
    password = secrets.token_urlsafe(12)
    with redis_server(directory / "redis") as redis_process:
        extra = {} if lifetime is None else {"access_token_lifetime": str(round(lifetime))}
        env = serve_env(redis_process.url, enable_password_grant="1", demo_users=f"alice:{password}", **extra)
        with serving(directory / "serve", env, workers=workers) as server:
            yield server, redis_process, password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client loops (default: %(default)s)")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="stop after this many requests")
    parser.add_argument("--check-limit", type=int, default=5000, help="tokens audited per kind (sampled beyond)")
    parser.add_argument("--rss-limit-mib", type=float, default=50.0, help="allowed RSS growth per worker")
    parser.add_argument(
        "--access-token-lifetime",
        type=float,
        default=None,
        help="seconds (the server's default otherwise); shorter than the run, tokens expire while it runs",
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="asgi-oauth-soak-") as tmp,
        soak_stack(Path(tmp), workers=args.workers, lifetime=args.access_token_lifetime) as (
            server,
            redis_process,
            password,
        ),
    ):
        result = asyncio.run(
            drive(
                server,
                password,
                redis_process.url,
                duration=args.duration,
                concurrency=args.concurrency,
                max_requests=args.max_requests,
                check_limit=args.check_limit,
                lifetime=args.access_token_lifetime,
            )
        )
        tracebacks = server.stderr.count("Traceback")
    print(result.summary())
    problems = result.problems(rss_limit=int(args.rss_limit_mib * MIB))
    if tracebacks:
        problems.append(f"{tracebacks} tracebacks in the server's stderr")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("soak: OK" if not problems else "soak: FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
