"""Where one request's time goes in our app: ``python -m benchmarks.profile [--scenarios ...] [--seconds 10]``.

For each scenario (by default the ratios table's: protected route, introspection, client_credentials issuance),
our app with its defaults on Redis (``ours-redis-cache``, the app of the ratios table) is verified, then called
in-process, one request after another (no sockets, no HTTP server: the app's own cost), in two ways:

- sampled: a child process runs the loop while ``py-spy record --nonblocking`` samples it from outside at
  ``--rate`` Hz (no instrumentation, so the shares are undistorted; time waiting for Redis is not sampled);
- traced: the same loop here under cProfile, for exact calls per request (each traced call costs about a
  microsecond more, which inflates functions called often, so its times are not comparable with the sampled).

Each becomes a table of µs per request spent in each function itself (self) and in it and below (total),
written to ``benchmarks/results/profile.md`` (raw py-spy stacks and pstats listings beside it) and printed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import machine
from .apps import app_by_name
from .apps.common import BenchConfig
from .asgi_driver import InProcessTransport, build_scope, call_scope
from .options import HEADLINE_SCENARIOS, RESULTS_DIR
from .processes import REPO_ROOT, RedisServer
from .scenarios import prepare

APP = "ours-redis-cache"
#: ``name (path:line)`` frames of py-spy's raw output; the line is dropped so a function's lines add up.
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*?)(?::\d+)?\)$")


@dataclass(frozen=True, slots=True)
class Row:
    function: str
    self_us: float
    total_us: float
    #: Calls per request (traced only).
    calls: float | None = None


def short_path(path: str) -> str:
    """``site-packages/starlette/routing.py`` as ``starlette/routing.py``, a repository file relative to it."""
    for marker in ("site-packages/", f"{REPO_ROOT}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return re.sub(r"^.*/lib/python3\.\d+/", "", path)  # the standard library's


def frame_label(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['name']} ({short_path(match['path'])})"


def collapse(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """Self and total samples per function, and all samples, from py-spy's ``--format raw`` output (one stack
    per line, frames outermost first, separated by ``;``, then a space and the sample count)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_label(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for label in set(frames):
            total[label] += n
    return own, total, samples


def sampled_rows(raw: str, rate: float, requests: float, limit: int = 25) -> tuple[list[Row], float]:
    """The top functions by self time, in µs per request; and the sampled (on-CPU) µs per request in all."""
    own, total, samples = collapse(raw)
    per_sample = 1e6 / rate / requests if requests else 0.0
    rows = [Row(f, n * per_sample, total[f] * per_sample) for f, n in own.most_common(limit)]
    return rows, samples * per_sample


def traced_rows(stats: pstats.Stats, requests: int, limit: int = 25) -> list[Row]:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    rows = [
        Row(f"{name} ({short_path(path)})", tt / requests * 1e6, ct / requests * 1e6, calls / requests)
        for (path, _, name), (_, calls, tt, ct, _) in raw.items()
    ]
    rows.sort(key=lambda r: -r.self_us)
    return rows[:limit]


def table(rows: list[Row]) -> list[str]:
    traced = any(r.calls is not None for r in rows)
    head = "| function | self µs/req | total µs/req |" + (" calls/req |" if traced else "")
    lines = [head, "|---|---:|---:|" + ("---:|" if traced else "")]
    for r in rows:
        calls = f" {r.calls:.1f} |" if r.calls is not None else ""
        lines.append(f"| `{r.function}` | {r.self_us:.2f} | {r.total_us:.2f} |{calls}")
    return lines


# -- the loop ---------------------------------------------------------------------------------------


async def _workload(scenario: str, config: BenchConfig) -> tuple[Any, dict[str, Any], bytes]:
    spec = app_by_name(APP)
    app = spec.build(config)
    work = await prepare(spec, scenario, InProcessTransport(app), config)
    return app, build_scope(work.template), work.template.body


async def _loop(app: Any, scope: dict[str, Any], body: bytes, *, requests: int = 0, seconds: float = 0.0) -> int:
    """``requests`` requests, or as many as fit in ``seconds``; the number sent."""
    done = 0
    deadline = time.perf_counter() + seconds
    while (requests and done < requests) or (seconds and time.perf_counter() < deadline):
        for _ in range(100):
            await call_scope(app, scope, body)
        done += 100
    return done


async def _child(scenario: str, config: BenchConfig, seconds: float) -> None:
    """Run by the sampled pass: say "ready", loop for ``seconds``, then report the rate as JSON."""
    app, scope, body = await _workload(scenario, config)
    await _loop(app, scope, body, requests=2000)  # warm: imports, caches, connections
    print("ready", flush=True)
    started = time.perf_counter()
    done = await _loop(app, scope, body, seconds=seconds)
    print(json.dumps({"requests": done, "seconds": time.perf_counter() - started}), flush=True)
    await app.state.bench_close()


def sampled(scenario: str, config: BenchConfig, seconds: float, rate: int, out: Path) -> dict[str, Any]:
    """py-spy on a child process running the loop; the py-spy window sits inside the loop."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return {"error": "py-spy is not installed (pip install -r benchmarks/requirements.txt)"}
    args = [sys.executable, "-m", "benchmarks.profile", "--child", scenario, "--seconds", str(seconds + 2)]
    env = {**os.environ, **config.to_env(), "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            return {"error": f"the loop for {scenario} did not start"}
        time.sleep(0.5)
        before = machine.read() if machine.available() else None
        record = [spy, "record", "--pid", str(child.pid), "--duration", str(int(seconds)), "--rate", str(rate)]
        record += ["--nonblocking", "--format", "raw", "--output", str(out)]
        spied = subprocess.run(record, capture_output=True, text=True, check=False, timeout=seconds + 60)
        window = machine.window(before, machine.read()).as_dict() if before is not None else None
        report = json.loads(child.stdout.readline())
    finally:
        child.wait(timeout=seconds + 30)
    if spied.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed: {spied.stderr[-500:]}"}
    rps = report["requests"] / report["seconds"]
    rows, on_cpu = sampled_rows(out.read_text(), rate, rps * seconds)
    return {"rps": rps, "wall_us": 1e6 / rps, "on_cpu_us": on_cpu, "rows": rows, "machine": window}


async def traced(scenario: str, config: BenchConfig, requests: int, out: Path) -> dict[str, Any]:
    app, scope, body = await _workload(scenario, config)
    try:
        await _loop(app, scope, body, requests=2000)
        profiler = cProfile.Profile()
        profiler.enable()
        await _loop(app, scope, body, requests=requests)
        profiler.disable()
    finally:
        await app.state.bench_close()
    with out.open("w") as stream:
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(40)
    return {"rows": traced_rows(stats, requests)}


def report(scenario: str, spied: dict[str, Any], trace: dict[str, Any], limit: int) -> list[str]:
    lines = [f"## {scenario}", ""]
    if "error" in spied:
        lines += [f"Sampled: {spied['error']}", ""]
    else:
        state = ""
        if spied["machine"] is not None:
            state = f"; other work on the machine meanwhile: {spied['machine']['other_cores']:.2f} cores"
        lines += [
            f"Sampled (py-spy): {spied['rps']:,.0f} requests/s in-process, {spied['wall_us']:.1f} µs per request of "
            f"which {spied['on_cpu_us']:.1f} µs on CPU{state}.",
            "",
            *table(spied["rows"][:limit]),
            "",
        ]
    lines += ["Traced (cProfile; calls per request exact, times inflated by the tracing):", ""]
    lines += [*table(trace["rows"][:limit]), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from .cli import _run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=HEADLINE_SCENARIOS, default=list(HEADLINE_SCENARIOS))
    parser.add_argument("--seconds", type=float, default=10.0, help="sampled seconds per scenario (default 10)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second (default 1000)")
    parser.add_argument("--requests", type=int, default=20_000, help="traced requests per scenario (default 20000)")
    parser.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run(_child(args.child, BenchConfig.from_env(), args.seconds))
        return 0

    redis = RedisServer().start()
    config = BenchConfig(redis_url=redis.url, client_id="bench-client", client_secret=secrets.token_urlsafe(32))
    os.environ.update(config.to_env())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Profile of our app's in-process loop",
        "",
        f"`{' '.join(['python -m benchmarks.profile', *(sys.argv[1:] if argv is None else argv)])}` on "
        f"{time.strftime('%Y-%m-%d %H:%M %z')}, app `{APP}`; µs per request.",
        "",
    ]
    try:
        for scenario in args.scenarios:
            print(f"profiling {scenario}", file=sys.stderr, flush=True)
            raw = RESULTS_DIR / f"profile-{scenario}.pyspy.txt"
            spied = sampled(scenario, config, args.seconds, args.rate, raw)
            trace = _run(traced(scenario, config, args.requests, RESULTS_DIR / f"profile-{scenario}.pstats.txt"))
            lines += report(scenario, spied, trace, args.top)
    finally:
        redis.stop()
    text = "\n".join(lines)
    (RESULTS_DIR / "profile.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
