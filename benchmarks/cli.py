"""Command line: ``python -m benchmarks [--quick] [...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
        description="asgi_oauth side by side with the stack's ceiling and the Python peers.",
    )
    p.add_argument("--quick", action="store_true", help="short run (< 2 minutes): fewer rounds, smaller sizes")
    p.add_argument("--rounds", type=int, help="interleaved rounds per variant (default 5, quick 2)")
    p.add_argument("--duration", type=float, help="seconds of HTTP load per sample (default 2, quick 1)")
    p.add_argument("--inproc-requests", type=int, help="sequential requests per in-process sample")
    p.add_argument("--connections", type=int, help="concurrent keep-alive connections (default 32)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), help="HTTP load generator (default auto)")
    p.add_argument("--apps", nargs="+", choices=[s.name for s in APPS], help="only these apps (ceilings always run)")
    p.add_argument("--scenarios", nargs="+", choices=OAUTH_SCENARIOS, help="only these scenarios")
    p.add_argument("--no-inproc", action="store_true", help="skip the in-process variant")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP variant")
    p.add_argument("--no-scale", action="store_true", help="skip the memory and live-token checks")
    p.add_argument("--profile", action="store_true", help="cProfile our app in-process, per scenario")
    p.add_argument("--memory-tokens", type=int, help="tokens created for the memory check (default 100000)")
    p.add_argument("--small-tokens", type=int, help="live tokens in the small Redis (default 1000)")
    p.add_argument("--big-tokens", type=int, help="live tokens in the big Redis (default 1000000, quick 100000)")
    p.add_argument("--output", type=Path, help="directory for report.md, results.json, chart.png")
    return p


def options_from(argv: list[str] | None = None) -> Options:
    args = _parser().parse_args(argv)
    opts = Options.quick_preset() if args.quick else Options()
    for name in ("rounds", "duration", "inproc_requests", "connections", "loadgen", "apps", "scenarios"):
        if (value := getattr(args, name)) is not None:
            setattr(opts, name, value)
    for name in ("memory_tokens", "small_tokens", "big_tokens", "output"):
        if (value := getattr(args, name)) is not None:
            setattr(opts, name, value)
    opts.inproc, opts.http, opts.scale = not args.no_inproc, not args.no_http, not args.no_scale
    opts.profile = args.profile
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
        print(f"\nwritten: {opts.output}/report.md, results.json, chart.png", file=sys.stderr)
    return 0
