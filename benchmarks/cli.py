"""Command line: ``python -m benchmarks [--quick] [...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from . import report
from .apps import APPS, OAUTH_SCENARIOS
from .options import Options
from .processes import ProcessError
from .runner import Runner

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="asgi_oauth as a share of a constant-JSON route, beside Authlib and node-oidc-provider; "
        "--all adds every app and scenario.",
    )
    p.add_argument("--quick", action="store_true", help="smoke check in about a minute (never judges a target)")
    p.add_argument("--all", action="store_true", help="every app and scenario (5 rounds of 2 s unless told)")
    p.add_argument("--rounds", type=int, help="interleaved rounds per variant (default 3, quick 2, all 5)")
    p.add_argument("--duration", type=float, help="seconds of HTTP load per sample (default 10, quick 1, all 2)")
    p.add_argument("--inproc-requests", type=int, help="sequential requests per in-process sample")
    p.add_argument("--connections", type=int, help="concurrent keep-alive connections (default 32)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), help="HTTP load generator (default auto)")
    p.add_argument("--apps", nargs="+", choices=[s.name for s in APPS], help="only these apps (ceilings always run)")
    p.add_argument("--scenarios", nargs="+", choices=OAUTH_SCENARIOS, help="only these scenarios")
    p.add_argument("--no-inproc", action="store_true", help="skip the in-process variant")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP variant")
    p.add_argument("--no-memory", action="store_true", help="skip Redis MEMORY USAGE per token")
    p.add_argument("--no-scaling", action="store_true", help="skip the 2-worker rows")
    p.add_argument("--scale", action=argparse.BooleanOptionalAction, help="used_memory per app, 1k vs 1M live tokens")
    p.add_argument("--no-pin", action="store_true", help="do not pin servers, wrk and Redis to CPUs")
    p.add_argument("--server-cpus", help="CPUs of each server (taskset list, default 0)")
    p.add_argument("--load-cpus", help="CPUs of wrk and Redis (default 1)")
    p.add_argument("--wait-quiet", type=float, help="seconds to wait for a quiet machine before a round (default 30)")
    p.add_argument("--profile", action="store_true", help="cProfile our app in-process, per scenario")
    p.add_argument("--memory-tokens", type=int, help="tokens per memory layout (default 100000, quick 10000)")
    p.add_argument("--memory-clients", type=int, help="clients of the many-clients layout (default 1000)")
    p.add_argument("--small-tokens", type=int, help="live tokens in the small Redis (default 1000)")
    p.add_argument("--big-tokens", type=int, help="live tokens in the big Redis (default 1000000, quick 100000)")
    p.add_argument("--output", type=Path, help="directory for report.md, results.json, ratios.png, chart.png")
    return p


def options_from(argv: list[str] | None = None) -> Options:
    args = _parser().parse_args(argv)
    if args.quick:
        opts = Options.quick_preset()
        opts.all = opts.scale = args.all
    else:
        opts = Options.all_preset() if args.all else Options()
    for name in ("rounds", "duration", "inproc_requests", "connections", "loadgen", "apps", "scenarios"):
        if (value := getattr(args, name)) is not None:
            setattr(opts, name, value)
    for name in (
        "memory_tokens",
        "memory_clients",
        "small_tokens",
        "big_tokens",
        "output",
        "server_cpus",
        "load_cpus",
        "wait_quiet",
        "scale",
    ):
        if (value := getattr(args, name)) is not None:
            setattr(opts, name, value)
    opts.inproc, opts.http = not args.no_inproc, not args.no_http
    opts.memory, opts.scaling, opts.pin = not args.no_memory, not args.no_scaling, not args.no_pin
    opts.profile = args.profile
    opts.command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    return opts


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed, like the uvicorn servers, so in-process figures match their loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    opts = options_from(argv)

    runner = Runner(opts)
    try:
        results = _run(runner.run())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ProcessError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    text = report.write(results, opts.output)
    with contextlib.suppress(BrokenPipeError):
        print(text)
        print(f"\nwritten: {opts.output}/report.md, results.json, ratios.png", file=sys.stderr)
    return 0
