"""Our routes' CPU cost as a share of the constant-JSON route, in-process: ``python -m benchmarks.micro``.

The quick, load-tolerant figure behind each optimisation in PROFILE.md. Both apps of the ratios table's
in-process columns (the bare Starlette constant-JSON route, and ours with its defaults on Redis) are built in
this process on a private Redis, verified like the full run does, then called one request at a time through
ASGI (no sockets, no HTTP server), in interleaved rounds: the constant route, then each of our routes, then the
constant route again... Each sample is ``time.process_time`` (this process's CPU only; Redis runs in its own)
over ``--requests`` requests; the figures are medians over ``--rounds``. The ratio is the constant route's CPU
per request over ours, so 1.0 means "as cheap as the constant route". A loaded machine slows both alike within
a round, which keeps the ratio steadier than either figure.

In-process ratios are harsher than the HTTP ones of the ratios table: the HTTP server's own fixed cost per
request (uvicorn, httptools, the socket calls) is paid by both routes there and absent here.
"""

from __future__ import annotations

import argparse
import gc
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .apps import app_by_name
from .apps.common import BenchConfig
from .asgi_driver import InProcessTransport, build_scope, call_scope
from .options import HEADLINE_SCENARIOS
from .processes import RedisServer
from .scenarios import prepare

OURS = "ours-redis-cache"


async def _sample(app: object, scope: dict[str, object], body: bytes, n: int) -> float:
    """CPU µs per request over ``n`` sequential requests (every answer must be 2xx)."""
    gc.collect()
    cpu0 = time.process_time()
    for _ in range(n):
        resp = await call_scope(app, scope, body)  # type: ignore[arg-type]
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"non-2xx answer in the timed loop: {resp.short()}")
    return (time.process_time() - cpu0) / n * 1e6


async def measure(config: BenchConfig, scenarios: list[str], rounds: int, requests: int) -> dict[str, list[float]]:
    ceiling_spec, ours_spec = app_by_name("ceiling"), app_by_name(OURS)
    ceiling, ours = ceiling_spec.build(config), ours_spec.build(config)
    targets: list[tuple[str, object, dict[str, object], bytes]] = []
    try:
        work = await prepare(ceiling_spec, "json", InProcessTransport(ceiling), config)
        targets.append(("constant JSON", ceiling, build_scope(work.template), work.template.body))
        for scenario in scenarios:
            work = await prepare(ours_spec, scenario, InProcessTransport(ours), config)
            targets.append((scenario, ours, build_scope(work.template), work.template.body))
        for _, app, scope, body in targets:  # warm: imports, connections, the validation cache
            await _sample(app, scope, body, min(requests, 2000))
        samples: dict[str, list[float]] = {name: [] for name, *_ in targets}
        for _ in range(rounds):
            for name, app, scope, body in targets:
                samples[name].append(await _sample(app, scope, body, requests))
        return samples
    finally:
        await ceiling.state.bench_close()
        await ours.state.bench_close()


def table(
    samples: dict[str, list[float]], *, base: str = "constant JSON", what: str = "route (in-process)"
) -> list[str]:
    """Medians of CPU per request, each as a share of ``base``'s (its CPU per request over the row's)."""
    reference = statistics.median(samples[base])
    lines = [f"| {what} | CPU µs/req (median) | min-max | x {base} |", "|---|---:|---:|---:|"]
    for name, values in samples.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.1f} | {min(values):.1f}-{max(values):.1f} | {reference / median:.2f} |")
    return lines


T = TypeVar("T")


def rounds_parser(prog: str, doc: str, *, rounds: int = 5, requests: int = 1000) -> argparse.ArgumentParser:
    """The command line of an in-process micro-benchmark: ``--rounds`` and ``--requests`` (and what it adds)."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    parser.add_argument(
        "--requests", type=int, default=requests, help=f"requests per sample, one at a time (default {requests})"
    )
    return parser


def on_private_redis(work: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    """``work(url)`` against a private redis-server started for it and stopped after, on the loop the servers use."""
    from .cli import _run

    redis = RedisServer().start()
    try:
        return _run(work(redis.url))
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = rounds_parser("benchmarks.micro", __doc__ or "", rounds=7, requests=5000)
    parser.add_argument("--scenarios", nargs="+", choices=HEADLINE_SCENARIOS, default=list(HEADLINE_SCENARIOS))
    args = parser.parse_args(argv)

    def run(url: str) -> Coroutine[Any, Any, dict[str, list[float]]]:
        config = BenchConfig(redis_url=url, client_id="bench-client", client_secret=secrets.token_urlsafe(32))
        return measure(config, args.scenarios, args.rounds, args.requests)

    samples = on_private_redis(run)
    print("\n".join(table(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
