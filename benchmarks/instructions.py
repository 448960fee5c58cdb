"""A uvicorn worker's instructions per request beside the constant route's: ``python -m benchmarks.instructions``.

The ratios table (``python -m benchmarks``) times throughput, and on a shared VM a route's fastest 10 s sample
can be half again its slowest, more than most single optimisations move it. Instructions do not move with the
machine: this starts each app of the ratios table under valgrind's callgrind (uvicorn, one worker, uvloop and
httptools, as the ratios run serves it) on a private Redis, verifies it answers correctly, warms it up, then
counts the worker's user-space instructions (``Ir``) while ``--requests`` requests arrive over 32 keep-alive
connections, and divides. The ratio column is the constant route's count over the route's, the instruction
analogue of "x constant JSON". System calls are not counted (they run in the kernel), nor is Redis (another
process), so it reads the Python side of a request: the part our code decides. Repeatable within about 1%;
run it in a checkout of each revision to compare them. Needs ``valgrind`` and ``redis-server`` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from .apps import app_by_name
from .apps.common import BenchConfig
from .loadgen import run_count
from .messages import Req
from .options import HEADLINE_SCENARIOS
from .processes import ProcessError, RedisServer, UvicornServer
from .runner import HttpTransport
from .scenarios import prepare

CEILING, OURS = "ceiling", "ours-redis-cache"
#: The table's first row, the basis of the ratio column.
CONSTANT = "constant JSON"
CONNECTIONS = 32


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ProcessError(f"needs {name} on PATH (Debian: apt-get install valgrind)")
    return path


def _totals(text: str) -> int:
    """The instruction count callgrind wrote: its ``totals:`` line (with instrumentation switched on later, its
    ``summary:`` line reads 0), else its ``summary:`` line."""
    found = re.search(r"^totals: (\d+)", text, re.MULTILINE) or re.search(r"^summary: (\d+)", text, re.MULTILINE)
    if found is None:
        raise ProcessError("callgrind wrote no totals")
    return int(found.group(1))


def count(app: str, scenario: str, config: BenchConfig, requests: int, warm: int) -> float:
    """Instructions per request of ``app`` serving ``scenario`` (verified first, every answer 2xx)."""
    valgrind, control = _tool("valgrind"), _tool("callgrind_control")
    spec = app_by_name(app)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        out = Path(tmp) / "callgrind.out"
        wrapper = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        server = UvicornServer(spec.name, spec.uvicorn_target, config.to_env(), wrapper=wrapper).start()
        try:
            server.wait_ready(timeout=300)
            req = asyncio.run(_verified(server.base_url, spec.name, scenario, config))
            _load(server.port, req, warm)
            subprocess.run([control, "--instr=on", str(server.pid)], check=True, capture_output=True)
            _load(server.port, req, requests)
            subprocess.run([control, "--instr=off", str(server.pid)], check=True, capture_output=True)
        finally:
            server.stop(timeout=120)  # SIGTERM: uvicorn exits and callgrind writes its counts
        text = out.read_text() if out.exists() else ""
    return _totals(text) / requests


async def _verified(base_url: str, app: str, scenario: str, config: BenchConfig) -> Req:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        work = await prepare(app_by_name(app), scenario, HttpTransport(client), config)
    return work.template


def _load(port: int, req: Req, requests: int) -> None:
    done = asyncio.run(run_count("127.0.0.1", port, req, requests, CONNECTIONS))
    if done != requests:
        raise ProcessError(f"{done} of {requests} requests answered 2xx")


def measure(scenarios: list[str], requests: int, warm: int) -> dict[str, float]:
    """Instructions per request: the constant route first, then each of our ``scenarios``."""
    redis = RedisServer().start()
    try:
        config = BenchConfig(redis_url=redis.url, client_id="bench-client", client_secret=secrets.token_urlsafe(32))
        counts = {CONSTANT: count(CEILING, "json", config, requests, warm)}
        for scenario in scenarios:
            counts[scenario] = count(OURS, scenario, config, requests, warm)
        return counts
    finally:
        redis.stop()


def table(counts: dict[str, float]) -> list[str]:
    """Markdown rows: each route's instructions per request and the constant route's count over it."""
    basis = counts[CONSTANT]
    lines = ["| route | instructions per request | x constant JSON |", "|---|---:|---:|"]
    lines += [f"| {name} | {value:,.0f} | {basis / value:.2f} |" for name, value in counts.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=HEADLINE_SCENARIOS, default=list(HEADLINE_SCENARIOS))
    parser.add_argument("--requests", type=int, default=2_048, help="requests counted per route (2,048)")
    parser.add_argument("--warm", type=int, default=384, help="requests before counting, not counted (384)")
    args = parser.parse_args(argv)
    if args.requests % CONNECTIONS or args.warm % CONNECTIONS:
        parser.error(f"--requests and --warm must be multiples of {CONNECTIONS} (one share per connection)")
    routes = ", ".join([CONSTANT, *args.scenarios])
    print(f"counting {args.requests:,} requests per route under callgrind ({routes}), ~40 s each...", file=sys.stderr)
    try:
        counts = measure(args.scenarios, args.requests, args.warm)
    except ProcessError as exc:
        print(f"instructions: {exc}", file=sys.stderr)
        return 1
    print("\n".join(table(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
