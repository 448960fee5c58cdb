"""Redis transports side by side: our pipelined connection against what a kept library offers.

``python -m benchmarks.transports [--rounds 3] [--duration 3] [--tasks 64] [--only ours coredis ...]``

Each transport is handed to :class:`~asgi_oauth.RedisStore` as its client, so every figure is the store's
real verbs (key building, record decoding, the script's EVALSHA with its EVAL fallback) on that transport:

- ``ours``: the store as deployed on one server, on its pipelined connection (``asgi_oauth/store/pipeline.py``);
- ``redis-py``: redis-py's asyncio client as is (pooled connection per command), chosen as the store allows it,
  with a connection class of its own (as ``tests/test_costs.py`` does);
- ``redis-py-pipeline``: every command a request issues sent in one redis-py pipeline (a request of ours
  issues one, so this is one command per pipeline);
- ``redis-py-batched``: the commands of all requests issued in one event-loop iteration sent in one redis-py
  pipeline, by a small coalescer written here: what keeping redis-py and still batching would take;
- ``coredis``: coredis' client (RESP3, a pool whose connections are shared by concurrent commands);
- ``coredis-cached``: the same with coredis' RESP3 client-side cache (server-assisted invalidation), GETs
  answered from the worker's memory once read.

Workloads, on a private redis-server started on a free port: ``validate`` (the access-token read of every
protected request: ``get_access``, one GET of a real record, on 1,000 live tokens picked at random),
``issue`` (``put_family``, the EVALSHA that creates a refresh family and its first access token), each by
``--tasks`` concurrent tasks for ``--duration`` seconds; transports alternate within a round and the order
rotates between rounds, so the shared machine's noise falls on all alike. Reported: ops/s (median over the
rounds), the median of each round's ratio to ``ours``, and the client's CPU per op. Then one task alone:
p50/p99 of a ``get_access`` round trip. A transport whose library is not installed is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as rexc

from asgi_oauth import RedisStore, crypto
from asgi_oauth.models import AccessToken, TokenFamily

from .cli import _run
from .options import RESULTS_DIR
from .processes import ProcessError, RedisServer

T = TypeVar("T")
PREFIX = "bench-transports"
#: Seconds the issued records live: long enough for a round, short enough that the private Redis stays small.
ISSUED_TTL = 20.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- transports -----------------------------------------------------------------------------------------------


class _RedisPyPath(aioredis.Connection):
    """A connection class of its own: a store given it stays on redis-py's per-command path."""


class _NoPipeline:
    """What the store reads of its client's pool to decide on its pipelined connection: nothing it can use."""

    connection_class = object
    connection_kwargs: dict[str, Any] = {}  # noqa: RUF012 (read only)


class _Adapter:
    """Stands in for the redis-py client the store is given: the store sends every command through
    ``execute_command``, so the same verbs run on another transport. Replies are what redis-py gives."""

    connection_pool = _NoPipeline()

    def __init__(self, execute: Callable[..., Awaitable[Any]], close: Callable[[], Awaitable[None]]) -> None:
        self.execute_command = execute
        self._close = close
        #: Counters of a client-side cache (hits, misses, invalidations), when the transport has one.
        self.cache_stats: Callable[[], dict[str, int]] | None = None

    async def aclose(self) -> None:
        await self._close()


def _redis_py(url: str) -> aioredis.Redis:
    """redis-py's client as ``asgi_oauth.store.redis.connect`` builds it, on a connection class of our own."""
    pool = aioredis.ConnectionPool.from_url(
        url,
        connection_class=_RedisPyPath,
        max_connections=1000,
        health_check_interval=30,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
    )
    return aioredis.Redis.from_pool(pool)


async def _per_request_pipeline(url: str, stack: contextlib.AsyncExitStack) -> Any:
    """Each call of the store (one command per request here) in a redis-py pipeline of its own."""
    client = _redis_py(url)

    async def execute(*args: Any) -> Any:
        async with client.pipeline(transaction=False) as pipe:
            pipe.execute_command(*args)
            (reply,) = await pipe.execute()
        return reply

    return _Adapter(execute, client.aclose)


class _Coalescer:
    """The commands issued in one event-loop iteration, sent in one redis-py pipeline (on a pooled
    connection; batches of later iterations may overlap on others)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def execute(self, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((args, future))
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


async def _batched_pipeline(url: str, stack: contextlib.AsyncExitStack) -> Any:
    client = _redis_py(url)
    return _Adapter(_Coalescer(client).execute, client.aclose)


async def _coredis(url: str, stack: contextlib.AsyncExitStack, *, cached: bool) -> Any:
    import coredis
    from coredis.exceptions import NoScriptError
    from coredis.patterns.cache import LRUCache

    # Its documented production switch: most runtime validations off (as ``python -O`` would), ~40% less CPU.
    coredis.Config.optimized = True
    # A cache big enough for every live token of the run: its best case, each token read from memory once seen.
    cache = LRUCache(max_keys=100_000) if cached else None
    client: Any = await stack.enter_async_context(coredis.Redis.from_url(url, cache=cache, stream_timeout=2.0))

    async def execute(name: str, *args: Any) -> Any:
        try:
            if name == "GET":
                return await client.get(args[0])
            if name in ("EVALSHA", "EVAL"):
                count = int(args[1])
                keys, argv = list(args[2 : 2 + count]), list(args[2 + count :])
                run = client.evalsha if name == "EVALSHA" else client.eval
                return await run(args[0], keys, argv)
        except NoScriptError as exc:
            raise rexc.NoScriptError(str(exc)) from None  # what the store's script runner falls back on
        raise NotImplementedError(f"{name} is not used by these workloads")

    async def close() -> None:
        pass  # the client is closed by the exit stack, in the task that opened it (anyio's task group)

    adapter = _Adapter(execute, close)
    if cached:
        adapter.cache_stats = lambda: dict(client.connection_pool.cache.stats.summary)
    return adapter


async def _ours(url: str, stack: contextlib.AsyncExitStack) -> Any:
    return None  # the store builds its own pipelined connection from the URL


async def _plain_redis_py(url: str, stack: contextlib.AsyncExitStack) -> Any:
    return _redis_py(url)


Opener = Callable[[str, contextlib.AsyncExitStack], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Transport:
    name: str
    open: Opener
    #: The distribution that must be installed, reported with its version.
    library: str
    about: str


TRANSPORTS = [
    Transport("ours", _ours, "redis", "one pipelined connection (asgi_oauth/store/pipeline.py)"),
    Transport("redis-py", _plain_redis_py, "redis", "redis-py asyncio, pooled connection per command"),
    Transport("redis-py-pipeline", _per_request_pipeline, "redis", "a redis-py pipeline per request"),
    Transport("redis-py-batched", _batched_pipeline, "redis", "a redis-py pipeline per loop iteration"),
    Transport("coredis", lambda u, s: _coredis(u, s, cached=False), "coredis", "coredis, multiplexed pool"),
    Transport("coredis-cached", lambda u, s: _coredis(u, s, cached=True), "coredis", "coredis + RESP3 cache"),
]


def _installed(library: str) -> str | None:
    try:
        return version(library)
    except PackageNotFoundError:
        return None


# -- workloads ------------------------------------------------------------------------------------------------


def _access(now: float, lifetime: float) -> AccessToken:
    """A record the size the server writes: client id, scopes, subject, username, resource."""
    return AccessToken(
        client_id="c-7f3a9e21b4d84c0e",
        scope="openid profile read write",
        sub="u-42b7c1e9d3f04a5b",
        iat=int(now),
        exp=now + lifetime,
        username="alice@example.com",
        resource="https://api.example.com/",
    )


def _family(access: AccessToken) -> tuple[str, str, TokenFamily]:
    family_id, token = crypto.new_token()
    refresh = crypto.new_token(family_id)[1]
    family = TokenFamily(
        refresh_digest=crypto.digest(refresh, "refresh"),
        client_id=access.client_id,
        scope=access.scope,
        sub=access.sub,
        iat=access.iat,
        exp=access.exp,
        username=access.username,
        resource=access.resource,
    )
    return family_id, crypto.digest(token, "access"), family


@dataclass(slots=True)
class Live:
    """The tokens the validate workload reads: (family id, access digest)."""

    tokens: list[tuple[str, str]] = field(default_factory=list)


async def seed(url: str, count: int) -> Live:
    store = RedisStore.from_url(url, key_prefix=PREFIX)
    live = Live()
    try:
        now = time.time()
        for _ in range(count):
            access = _access(now, 3600)
            family_id, access_digest, family = _family(access)
            await store.put_family(family_id, family, access_digest, access)
            live.tokens.append((family_id, access_digest))
    finally:
        await store.aclose()
    return live


async def validate_once(store: RedisStore, live: Live) -> None:
    family_id, access_digest = random.choice(live.tokens)
    if await store.get_access(family_id, access_digest) is None:
        raise AssertionError("a live token was not found")


async def issue_once(store: RedisStore, live: Live) -> None:
    access = _access(time.time(), ISSUED_TTL)
    family_id, access_digest, family = _family(access)
    await store.put_family(family_id, family, access_digest, access)


WORKLOADS: dict[str, Callable[[RedisStore, Live], Awaitable[None]]] = {
    "validate": validate_once,
    "issue": issue_once,
}


@contextlib.asynccontextmanager
async def opened(transport: Transport, url: str) -> Any:
    async with contextlib.AsyncExitStack() as stack:
        client = await transport.open(url, stack)
        store = RedisStore.from_url(url, key_prefix=PREFIX) if client is None else RedisStore(client, key_prefix=PREFIX)
        try:
            yield store
        finally:
            await store.aclose()


async def load(store: RedisStore, live: Live, op: Callable[[RedisStore, Live], Awaitable[None]], tasks: int,
               seconds: float) -> dict[str, float]:  # fmt: skip
    """``tasks`` concurrent loops of ``op`` for ``seconds``: ops/s and the process's CPU µs per op."""
    stop = False
    counts = [0] * tasks

    async def worker(index: int) -> None:
        while not stop:
            await op(store, live)
            counts[index] += 1

    running = [asyncio.ensure_future(worker(i)) for i in range(tasks)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        await asyncio.sleep(seconds)
    finally:
        stop = True
        done = sum(counts)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await asyncio.gather(*running)
    return {"ops_s": done / wall, "cpu_us": cpu / max(done, 1) * 1e6}


async def warm(store: RedisStore, live: Live) -> None:
    """Connections opened, scripts loaded, and every live token read once (a client-side cache then holds
    them all: its best case, a worker that has seen each token before)."""
    await issue_once(store, live)
    for start in range(0, len(live.tokens), 64):
        chunk = live.tokens[start : start + 64]
        await asyncio.gather(*(store.get_access(family_id, digest) for family_id, digest in chunk))


async def latency(store: RedisStore, live: Live, requests: int) -> list[float]:
    """Seconds per ``get_access``, one at a time."""
    samples = []
    perf = time.perf_counter
    for _ in range(requests):
        t0 = perf()
        await validate_once(store, live)
        samples.append(perf() - t0)
    return samples


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_us": ordered[len(ordered) // 2] * 1e6, "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6}


# -- run ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Options:
    rounds: int = 3
    duration: float = 3.0
    tasks: int = 64
    tokens: int = 1000
    latency_requests: int = 3000
    only: list[str] = field(default_factory=list)
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))


async def run(opts: Options, url: str) -> dict[str, Any]:
    chosen = [t for t in TRANSPORTS if not opts.only or t.name in opts.only or t.name == "ours"]
    skipped: dict[str, str] = {}
    usable = []
    for t in chosen:
        if _installed(t.library) is None:
            skipped[t.name] = f"{t.library} is not installed (pip install {t.library})"
        else:
            usable.append(t)
    for name, why in skipped.items():
        log(f"skipped {name}: {why}")
    log(f"seeding {opts.tokens} live tokens")
    live = await seed(url, opts.tokens)
    # Latency first, while Redis has nothing else to do (issued records expiring later cost it time too), with
    # every transport open at once and taking turns in chunks of 50 requests, so a burst of load from the
    # machine's other users falls on all of them alike.
    lat_samples: dict[str, list[float]] = {t.name: [] for t in usable}
    async with contextlib.AsyncExitStack() as stack:
        stores: dict[str, RedisStore] = {}
        for t in usable:
            try:
                stores[t.name] = store = await stack.enter_async_context(opened(t, url))
                await warm(store, live)
            except Exception as exc:
                stores.pop(t.name, None)
                skipped[t.name] = f"failed: {exc!r}"
                log(f"  {t.name} failed: {exc!r}")
        names = list(stores)
        for chunk in range(max(1, opts.latency_requests // 50)):
            for name in names[chunk % len(names) :] + names[: chunk % len(names)]:
                lat_samples[name] += await latency(stores[name], live, 50)
    usable = [t for t in usable if t.name not in skipped]
    lat = {name: _percentiles(values) for name, values in lat_samples.items() if values and name not in skipped}
    for name, figures in lat.items():
        log(f"  latency {name:<18} p50 {figures['p50_us']:.0f} µs  p99 {figures['p99_us']:.0f} µs")
    samples: dict[str, dict[str, list[dict[str, float]]]] = {w: {t.name: [] for t in usable} for w in opts.workloads}
    cache_stats: dict[str, dict[str, int]] = {}
    for round_no in range(opts.rounds):
        order = usable[round_no % len(usable) :] + usable[: round_no % len(usable)]
        for workload in opts.workloads:
            for t in order:
                try:
                    async with opened(t, url) as store:
                        await warm(store, live)
                        await load(store, live, WORKLOADS[workload], opts.tasks, min(0.5, opts.duration / 4))
                        counters = getattr(store.redis, "cache_stats", None)
                        before = counters() if counters else {}
                        sample = await load(store, live, WORKLOADS[workload], opts.tasks, opts.duration)
                        if counters:
                            after = counters()
                            cache_stats[workload] = {k: after[k] - before.get(k, 0) for k in after}
                except Exception as exc:
                    skipped[t.name] = f"failed: {exc!r}"
                    log(f"  {t.name} failed: {exc!r}")
                    continue
                samples[workload][t.name].append(sample)
                log(f"  round {round_no + 1} {workload:<8} {t.name:<18} {sample['ops_s']:9.0f} ops/s "
                    f"{sample['cpu_us']:6.1f} µs CPU/op")  # fmt: skip
    return {"samples": samples, "latency": lat, "skipped": skipped, "cache_stats": cache_stats}


def summarise(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per workload and transport: median ops/s, median of the per-round ratio to ours, median CPU per op."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for workload, by_name in results["samples"].items():
        ours = by_name.get("ours", [])
        out[workload] = {}
        for name, runs in by_name.items():
            if not runs:
                continue
            ratios = [r["ops_s"] / o["ops_s"] for r, o in zip(runs, ours, strict=False) if o["ops_s"]]
            out[workload][name] = {
                "ops_s": statistics.median(r["ops_s"] for r in runs),
                "min": min(r["ops_s"] for r in runs),
                "max": max(r["ops_s"] for r in runs),
                "ratio": statistics.median(ratios) if ratios else float("nan"),
                "cpu_us": statistics.median(r["cpu_us"] for r in runs),
            }
    return out


def environment() -> dict[str, str]:
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout.split()
    redis_version = next((w.split("=", 1)[1] for w in server if w.startswith("v=")), "?")
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}, {loop}",
        "redis-server": redis_version,
        "redis-py": _installed("redis") or "-",
        "hiredis": _installed("hiredis") or "-",
        "coredis": _installed("coredis") or "not installed",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def report(opts: Options, env: dict[str, str], results: dict[str, Any]) -> str:
    summary = summarise(results)
    lines = [
        "# Redis transports",
        "",
        ", ".join(f"{k}: {v}" for k, v in env.items()),
        f"{opts.tasks} concurrent tasks, {opts.rounds} alternating rounds of {opts.duration:g} s per transport "
        f"and workload, {opts.tokens} live tokens; ops/s median (min-max), ratio = median of the rounds' "
        "ratios to ours; CPU = this process's CPU per op.",
        "",
        "| transport | " + " | ".join(f"{w} ops/s | x ours | CPU µs/op" for w in summary) + " | GET p50 / p99 µs |",
        "|---|" + "---:|---:|---:|" * len(summary) + "---:|",
    ]
    for t in TRANSPORTS:
        if t.name in results["skipped"] or not any(t.name in s for s in summary.values()):
            continue
        cells = []
        for by_name in summary.values():
            s = by_name.get(t.name)
            cells.append(
                "- | - | -" if s is None else
                f"{s['ops_s']:,.0f} ({s['min']:,.0f}-{s['max']:,.0f}) | {s['ratio']:.2f} | {s['cpu_us']:.1f}"
            )  # fmt: skip
        lat = results["latency"].get(t.name)
        lat_cell = f"{lat['p50_us']:.0f} / {lat['p99_us']:.0f}" if lat else "-"
        lines.append(f"| {t.name} | " + " | ".join(cells) + f" | {lat_cell} |")
    lines.append("")
    ran = {name for by_name in summary.values() for name in by_name}
    lines += [f"- {t.name}: {t.about}" for t in TRANSPORTS if t.name in ran]
    for workload, stats in results["cache_stats"].items():
        lines.append(f"\ncoredis-cached, last {workload} round: {stats}")
    for name, why in results["skipped"].items():
        lines.append(f"\nskipped {name}: {why}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.transports", description=__doc__.split("\n")[0])
    d = Options()
    p.add_argument("--rounds", type=int, default=d.rounds, help=f"alternating rounds (default {d.rounds})")
    p.add_argument("--duration", type=float, default=d.duration, help="seconds per measurement (default 3)")
    p.add_argument("--tasks", type=int, default=d.tasks, help=f"concurrent tasks (default {d.tasks})")
    p.add_argument("--tokens", type=int, default=d.tokens, help=f"live tokens read (default {d.tokens})")
    p.add_argument("--latency-requests", type=int, default=d.latency_requests, help="single-task GETs timed")
    p.add_argument("--only", nargs="+", choices=[t.name for t in TRANSPORTS], help="these transports (and ours)")
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), help="only these workloads")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    opts = Options(args.rounds, args.duration, args.tasks, args.tokens, args.latency_requests, args.only or [])
    if args.workloads:
        opts.workloads = args.workloads
    server = RedisServer()
    try:
        server.start()
        env = environment()
        results = _run(run(opts, server.url))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ProcessError as exc:
        print(f"benchmarks.transports: {exc}", file=sys.stderr)
        return 2
    finally:
        server.stop()
    text = report(opts, env, results)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "transports.md").write_text(text + "\n", "utf-8")
    (RESULTS_DIR / "transports.json").write_text(json.dumps({"environment": env, **results}, indent=1), "utf-8")
    with contextlib.suppress(BrokenPipeError):
        print(text)
        print(f"\nwritten: {RESULTS_DIR}/transports.md, transports.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
