"""The run: build every app, verify each scenario, then time them in interleaved rounds, in-process and
over HTTP, so that machine drift (other work on a shared 2-core box) hits every app alike.

Over HTTP each server runs pinned to one CPU (``taskset``), wrk and Redis to the other, and every sample is
taken beside a reading of the CPU other work used meanwhile (:mod:`benchmarks.machine`), so the report can
say which figures a loaded machine disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import os
import platform
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from . import loadgen, machine, memory, oidc_provider, profile, scale
from .apps import APPS, CEILING_OF, AppSpec
from .apps.common import BenchConfig
from .asgi_driver import InProcessTransport
from .messages import Req, Resp
from .options import HEADLINE_APPS, HEADLINE_SCENARIOS, Options
from .processes import RedisServer, Server, UvicornServer, taskset, uvicorn_options
from .scenarios import VerifyError, Workload, prepare, seed_bodies
from .timing import time_inproc

#: Single-use bodies for the HTTP warm-up (0.3 s on 32 connections; it stops early when they run out).
WARM_UP_SEEDS = 300


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: The scaling rows: these routes again with 2 uvicorn workers (the ceiling's, and our defaults').
SCALING = (("ceiling", "json"), *(("ours-redis-cache", s) for s in HEADLINE_SCENARIOS))


@dataclass(frozen=True, slots=True)
class Target:
    spec: AppSpec
    scenario: str
    #: uvicorn workers serving it over HTTP (more than 1: a scaling row, not timed in-process).
    workers: int = 1

    @property
    def key(self) -> str:
        return target_key(self.spec.name, self.scenario, self.workers)

    @property
    def inproc(self) -> bool:
        return self.spec.runtime == "asgi" and self.workers == 1


def target_key(app: str, scenario: str, workers: int = 1) -> str:
    return f"{app}/{scenario}" if workers == 1 else f"{app}/{scenario}@{workers}w"


class HttpTransport:
    """The :class:`~benchmarks.messages.Transport` over real HTTP to a uvicorn subprocess."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, req: Req) -> Resp:
        r = await self.client.request(req.method, req.path, headers=list(req.headers), content=req.body)
        return Resp(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


@dataclass(slots=True)
class Results:
    """Everything the report is made of; serialised as is into the JSON file."""

    meta: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    inproc: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    http: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    #: Profile file names (under the output directory) by target, with ``--profile``.
    profiles: dict[str, str] = field(default_factory=dict)
    #: Machine load: windows before and after the run, and the waits for a quiet machine before rounds.
    machine: dict[str, Any] = field(default_factory=dict)
    #: Redis MEMORY USAGE per live token (:mod:`benchmarks.memory`).
    memory: dict[str, Any] = field(default_factory=dict)

    def skip(self, key: str, why: str) -> None:
        self.skipped[key] = why
        log(f"  skip   {key}: {why}")

    def refuse(self, key: str, why: str) -> None:
        self.refused[key] = why
        log(f"  REFUSE {key}: {why}")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _meta(opts: Options, load: str) -> dict[str, Any]:
    loop, http = uvicorn_options()
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": opts.command,
        "quick": opts.quick,
        "all": opts.all,
        "not_judged": opts.judgeable,
        "rounds": opts.rounds,
        "duration_s": opts.duration,
        "inproc_requests": opts.inproc_requests,
        "connections": opts.connections,
        "loadgen": load,
        "uvicorn": {"loop": loop, "http": http, "workers": 1},
        "inproc_loop": "uvloop" if loop == "uvloop" else "asyncio",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {
            **{
                d: _version(d)
                for d in ("asgi-oauth", "starlette", "redis", "hiredis", "uvicorn", "authlib", "aioauth", "uvloop")
            },
            **{f"npm:{name}": version for name, version in oidc_provider.TREE.pinned.items()},
        },
    }


def pinning(opts: Options) -> tuple[dict[str, str | None], str | None]:
    """CPUs for the servers, the load generator and Redis, or why they run unpinned."""
    unpinned: dict[str, str | None] = {"server": None, "load": None, "redis": None}
    if not opts.pin:
        return unpinned, "--no-pin"
    if (os.cpu_count() or 1) < 2:
        return unpinned, "fewer than 2 CPUs"
    if taskset() is None:
        return unpinned, "taskset is not on PATH (Debian: apt-get install util-linux)"
    return {"server": opts.server_cpus, "load": opts.load_cpus, "redis": opts.load_cpus}, None


async def _requests_for(target: Target, work: Workload, transport: Any, config: BenchConfig, n: int) -> list[Req]:
    if work.seed_kind is None:
        return [work.template] * n
    bodies = await seed_bodies(target.spec, transport, config, work.seed_kind, n)
    return [work.template.with_body(b) for b in bodies]


class Runner:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.results = Results()
        self.apps: dict[str, Any] = {}
        self.work: dict[str, Workload] = {}
        self.targets: list[Target] = []
        self.redis: RedisServer | None = None
        self.node: Path | None = None
        self.cpus, self.unpinned = pinning(opts)

    # -- what runs ---------------------------------------------------------------------------------
    def _headline(self) -> bool:
        """The ratios table only (the default): its apps, scenarios and the constant-JSON ceiling."""
        return not self.opts.all and not self.opts.apps

    # -- set-up ----------------------------------------------------------------------------------
    def _specs(self) -> list[AppSpec]:
        wanted = set(HEADLINE_APPS if self._headline() else self.opts.apps)
        if self._headline() or self.opts.apps:
            wanted.add("ceiling")
        return [s for s in APPS if not wanted or s.name in wanted]

    def _scenarios(self) -> tuple[str, ...]:
        if self.opts.scenarios:
            return tuple(self.opts.scenarios)
        return HEADLINE_SCENARIOS if self._headline() else ()

    def _scenario_wanted(self, spec: AppSpec, scenario: str) -> bool:
        scenarios = self._scenarios()
        if not scenarios:
            return True
        if spec.kind == "ceiling":  # constant JSON always; SET/GET when a scenario is measured against them
            return scenario == "json" or (not self._headline() and scenario in {CEILING_OF[s] for s in scenarios})
        return scenario in scenarios

    def build_apps(self, config: BenchConfig) -> None:
        log("building apps (in-process)")
        for spec in self._specs():
            if spec.runtime == "node":
                self._add_node(spec)
                continue
            try:
                app = spec.build(config)
            except ImportError as exc:
                self.results.skip(f"{spec.name}/*", f"cannot import the app's library: {exc}")
                continue
            except Exception as exc:
                self.results.skip(f"{spec.name}/*", f"building the app failed: {exc!r}")
                continue
            self.apps[spec.name] = app
            dynamic: dict[str, str] = getattr(app.state, "bench_skips", {})
            for scenario in spec.scenarios:
                if not self._scenario_wanted(spec, scenario):
                    continue
                why = spec.skipped.get(scenario) or dynamic.get(scenario)
                if why:
                    self.results.skip(f"{spec.name}/{scenario}", why)
                else:
                    self.targets.append(Target(spec, scenario))

    def _add_node(self, spec: AppSpec) -> None:
        """node-oidc-provider runs over HTTP only; installing Node 22 and its packages may take a while once."""
        try:
            self.node = oidc_provider.install()
        except oidc_provider.NpmUnavailable as exc:
            self.results.skip(f"{spec.name}/*", str(exc))
            return
        for scenario in spec.scenarios:
            if not self._scenario_wanted(spec, scenario):
                continue
            if why := spec.skipped.get(scenario):
                self.results.skip(f"{spec.name}/{scenario}", why)
            else:
                self.targets.append(Target(spec, scenario))

    def add_scaling(self) -> None:
        """The scaling rows' routes again with 2 workers, for those verified with 1."""
        present = {(t.spec.name, t.scenario) for t in self.targets}
        for app, scenario in SCALING:
            if (app, scenario) in present:
                self.targets.append(Target(_spec(app), scenario, workers=2))

    async def verify_inproc(self, config: BenchConfig) -> None:
        log("verifying every scenario in-process before timing it")
        kept = []
        for target in self.targets:
            if not target.inproc:
                kept.append(target)
                log(f"  http   {target.key} (verified over HTTP only)")
                continue
            try:
                self.work[target.key] = await prepare(
                    target.spec, target.scenario, InProcessTransport(self.apps[target.spec.name]), config
                )
                kept.append(target)
                log(f"  ok     {target.key}")
            except VerifyError as exc:
                self.results.refuse(target.key, f"in-process verification failed: {exc}")
            except Exception as exc:
                self.results.refuse(target.key, f"in-process verification crashed: {exc!r}")
        self.targets = kept

    # -- in-process rounds -----------------------------------------------------------------------
    async def run_inproc(self, config: BenchConfig) -> None:
        n = self.opts.inproc_requests
        targets = [t for t in self.targets if t.inproc]
        log(f"in-process: {self.opts.rounds} rounds x {len(targets)} targets x {n} sequential requests")
        for target in targets:  # warm-up: imports, caches, pool connections
            await self._inproc_sample(target, config, min(n, 100), record=False)
        for rnd in range(self.opts.rounds):
            for target in [t for t in targets if t in self.targets]:
                await self._inproc_sample(target, config, n, record=True)
            log(f"  round {rnd + 1}/{self.opts.rounds} done")

    async def _inproc_sample(self, target: Target, config: BenchConfig, n: int, *, record: bool) -> None:
        """One in-process sample; a target that crashes is refused and dropped from later rounds."""
        app = self.apps[target.spec.name]
        try:
            reqs = await _requests_for(target, self.work[target.key], InProcessTransport(app), config, n)
            gc.collect()
            sample = await time_inproc(app, reqs)
        except Exception as exc:
            self.results.refuse(target.key, f"in-process run crashed: {exc!r}")
            self.results.inproc.pop(target.key, None)
            self.targets.remove(target)
            return
        if record:
            self.results.inproc.setdefault(target.key, []).append(sample)
        if sample["non_2xx"]:
            log(f"  warning: {target.key} answered {sample['non_2xx']:.0f} non-2xx of {n} in-process")

    async def run_profiles(self, config: BenchConfig) -> None:
        """cProfile our app's in-process loop per scenario: where the time between us and the ceiling goes."""
        self.opts.output.mkdir(parents=True, exist_ok=True)
        for target in [t for t in self.targets if t.spec.kind == "ours" and t.inproc]:
            app = self.apps[target.spec.name]
            reqs = await _requests_for(
                target, self.work[target.key], InProcessTransport(app), config, self.opts.inproc_requests
            )
            profiler = cProfile.Profile()
            profiler.enable()
            await time_inproc(app, reqs)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(30)
            path = self.opts.output / f"profile-{target.spec.name}-{target.scenario}.txt"
            head = f"{len(reqs)} in-process requests of {target.key} (ncalls of coroutines count each resumption)"
            per_request = "\n".join(profile.table(profile.traced_rows(stats, len(reqs))))
            path.write_text(f"{head}\n\n{per_request}\n{out.getvalue()}")
            self.results.profiles[target.key] = path.name
        log(f"  profiles written under {self.opts.output}")

    # -- HTTP rounds -----------------------------------------------------------------------------
    def _loadgen(self) -> str:
        if self.opts.loadgen == "python":
            return "python"
        if loadgen.wrk_path() is not None:
            return "wrk"
        if self.opts.loadgen == "wrk":
            raise SystemExit("--loadgen wrk was asked for but wrk is not on PATH (Debian: apt-get install wrk)")
        log("wrk is not on PATH (Debian: apt-get install wrk): the Python load generator runs instead, unpinned, "
            "so no target is judged")  # fmt: skip
        return "python"

    def _seed_count(self, target: Target) -> int:
        """Enough single-use bodies for one HTTP sample, without paying for many unused ones: from the
        rate of earlier rounds, else from the in-process CPU cost. That cost is of one request at a time;
        under concurrent load a store that pipelines its Redis commands (ours) serves up to ~3x that rate."""
        if runs := self.results.http.get(target.key):
            rate = max(r["rps"] for r in runs) * 1.5
        elif samples := self.results.inproc.get(target.key):
            rate = 1e6 / max(statistics.median(s["cpu_us"] for s in samples), 20.0) * 3.0
        else:
            rate = 15_000.0
        return min(self.opts.max_seed, int(self.opts.duration * rate) + 200)

    async def _load(
        self, kind: str, server: Server, work: Workload, bodies: list[bytes] | None, duration: float
    ) -> dict[str, Any]:
        """One sample, with the machine's load and the server's CPU beside it."""
        seen: dict[str, Any] = {}
        with machine.beside(seen, server.pid):
            if kind == "wrk":
                result = await asyncio.to_thread(
                    loadgen.run_wrk,
                    server.base_url,
                    work.template,
                    bodies,
                    duration,
                    self.opts.connections,
                    cpus=self.cpus["load"],
                )
            else:
                result = await loadgen.run_python(
                    "127.0.0.1", server.port, work.template, bodies, duration, self.opts.connections
                )
        return {**result.as_dict(), **seen}

    def _server(self, target: Target, config: BenchConfig) -> Server:
        env = config.to_env()
        if target.spec.runtime == "node":
            assert self.node is not None
            return oidc_provider.NodeServer(target.spec.name, self.node, env, cpus=self.cpus["server"])
        cpus = self.cpus["server"]
        if target.workers > 1 and cpus is not None:
            cpus = f"{cpus},{self.cpus['load']}"  # the second worker shares the load generator's CPU
        return UvicornServer(target.spec.name, target.spec.uvicorn_target, env, cpus=cpus, workers=target.workers)

    async def _wait_quiet(self) -> None:
        """Before a round: wait (bounded) until other work stays under the quiet limit for a second."""
        if self.opts.wait_quiet <= 0 or not machine.available():
            return
        started = time.monotonic()
        while True:
            w = await asyncio.to_thread(machine.measure, 1.0)
            waited = time.monotonic() - started
            if not w.disturbed() or waited >= self.opts.wait_quiet:
                break
        waits = self.results.machine.setdefault("waits", [])
        waits.append({"waited_s": round(waited, 1), "quiet": not w.disturbed(), **w.as_dict()})
        if waited >= 1.5:
            log(f"  waited {waited:.0f} s for a quiet machine ({'quiet' if not w.disturbed() else 'still loaded'})")

    async def run_http(self, config: BenchConfig) -> None:
        kind = self._loadgen()
        self.results.meta["loadgen"] = kind
        pins = (
            "unpinned: " + self.unpinned
            if self.unpinned
            else (f"servers on CPU {self.cpus['server']}, load generator and Redis on CPU {self.cpus['load']}")
        )
        log(f"HTTP: {len(self.targets)} targets; load: {kind}, {self.opts.connections} connections; {pins}")
        servers: dict[tuple[str, int], Server] = {}
        clients: dict[tuple[str, int], httpx.AsyncClient] = {}
        try:
            for target in self.targets:
                at = (target.spec.name, target.workers)
                if at not in servers:
                    servers[at] = self._server(target, config).start()
            for at, server in servers.items():
                await asyncio.to_thread(server.wait_ready)
                clients[at] = httpx.AsyncClient(base_url=server.base_url, timeout=30)
            work = await self._verify_http(config, servers, clients)
            targets = [t for t in self.targets if t.key in work]
            for rnd in range(self.opts.rounds):
                await self._wait_quiet()
                for target in list(targets):
                    at = (target.spec.name, target.workers)
                    try:
                        bodies = await self._bodies(target, work[target.key], clients[at], config)
                        sample = await self._load(kind, servers[at], work[target.key], bodies, self.opts.duration)
                    except Exception as exc:
                        self.results.refuse(target.key, f"HTTP run crashed: {exc!r}")
                        self.results.http.pop(target.key, None)
                        targets.remove(target)
                        continue
                    self.results.http.setdefault(target.key, []).append(sample)
                log(f"  round {rnd + 1}/{self.opts.rounds} done")
        finally:
            for client in clients.values():
                await client.aclose()
            for server in servers.values():
                server.stop()

    async def _bodies(
        self, target: Target, work: Workload, client: httpx.AsyncClient, config: BenchConfig
    ) -> list[bytes] | None:
        if work.seed_kind is None:
            return None
        transport = HttpTransport(client)
        return await seed_bodies(target.spec, transport, config, work.seed_kind, self._seed_count(target))

    async def _verify_http(
        self,
        config: BenchConfig,
        servers: dict[tuple[str, int], Server],
        clients: dict[tuple[str, int], httpx.AsyncClient],
    ) -> dict[str, Workload]:
        """Verify again over the wire, then a short concurrent warm-up that must be all 2xx."""
        log("verifying every scenario over HTTP, with a warm-up that must answer only 2xx")
        work: dict[str, Workload] = {}
        for target in self.targets:
            at = (target.spec.name, target.workers)
            transport = HttpTransport(clients[at])
            try:
                w = await prepare(target.spec, target.scenario, transport, config)
                bodies = None
                if w.seed_kind is not None:
                    bodies = await seed_bodies(target.spec, transport, config, w.seed_kind, WARM_UP_SEEDS)
                port = servers[at].port
                warm = await loadgen.run_python("127.0.0.1", port, w.template, bodies, 0.3, self.opts.connections)
            except VerifyError as exc:
                self.results.refuse(target.key, f"HTTP verification failed: {exc}")
                continue
            except Exception as exc:
                self.results.refuse(target.key, f"HTTP verification crashed: {exc!r}")
                continue
            if warm.non_2xx or warm.socket_errors or warm.requests == 0:
                why = f"{warm.non_2xx} non-2xx and {warm.socket_errors} socket errors in {warm.requests} requests"
                self.results.refuse(target.key, f"HTTP warm-up: {why}")
                continue
            work[target.key] = w
            log(f"  ok     {target.key} ({warm.rps:,.0f} req/s warm-up)")
        return work

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> Results:
        opts = self.opts
        self.results.meta = _meta(opts, opts.loadgen)
        started = time.monotonic()
        self.results.meta["pinning"] = {**self.cpus, "unpinned": self.unpinned}
        quiet_window = 1.0 if opts.quick else 3.0
        if machine.available():
            log(f"machine load before the run ({quiet_window:g} s)")
            self.results.machine["before"] = (await asyncio.to_thread(machine.measure, quiet_window)).as_dict()
        self.redis = RedisServer(cpus=self.cpus["redis"]).start()
        log(f"private redis-server on port {self.redis.port}")
        config = BenchConfig(
            redis_url=self.redis.url,
            client_id="bench-client",
            client_secret=secrets.token_urlsafe(32),
        )
        os.environ.update(config.to_env())
        phases: dict[str, float] = {}
        self.results.meta["phases_s"] = phases
        try:
            with _phase(phases, "build_and_verify"):
                self.build_apps(config)
                await self.verify_inproc(config)
                if opts.scaling and opts.http:
                    self.add_scaling()
            verified = {t.key for t in self.targets}
            if opts.inproc and self.targets:
                with _phase(phases, "inproc"):
                    await self.run_inproc(config)
            if opts.profile and self.targets:
                with _phase(phases, "profile"):
                    await self.run_profiles(config)
            if opts.http and self.targets:
                with _phase(phases, "http"):
                    await self.run_http(config)
            if opts.memory:
                with _phase(phases, "memory"):
                    self.results.memory = await memory.run(opts, self.redis, config, log)
            if opts.scale:
                with _phase(phases, "scale"):
                    before = machine.read() if machine.available() else None
                    self.results.scale = await scale.run(opts, self.redis, config, self.apps, verified, log)
                    if before is not None:
                        self.results.machine["scale"] = machine.window(before, machine.read()).as_dict()
        finally:
            for app in self.apps.values():
                close: Callable[[], Any] | None = getattr(app.state, "bench_close", None)
                if close is not None:
                    await close()
            self.redis.stop()
        if machine.available():
            self.results.machine["after"] = (await asyncio.to_thread(machine.measure, quiet_window)).as_dict()
        self.results.meta["elapsed_s"] = round(time.monotonic() - started, 1)
        return self.results


@contextlib.contextmanager
def _phase(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = round(time.monotonic() - started, 1)
        log(f"[{name}: {phases[name]:.1f} s]")


def _spec(name: str) -> AppSpec:
    return next(s for s in APPS if s.name == name)
