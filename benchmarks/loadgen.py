"""Load generators for the HTTP variant: wrk when it is on PATH, else a Python asyncio one.

Both keep ``connections`` keep-alive connections busy for ``duration`` seconds and report requests/s,
p50/p99 latency and how many answers were not 2xx. A workload is either one request repeated, or a list
of single-use request bodies (codes, refresh tokens) or header values (DPoP proofs) each sent once; wrk
wraps around when the list runs out (the replays then fail and show up as non-2xx), the Python generator
stops early instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .messages import Req
from .processes import pinned


@dataclass(slots=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    #: The single-use bodies ran out before the time was up.
    exhausted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    """A Lua long-bracket literal that cannot be closed early by ``value``."""
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    eq = "=" * level
    return f"[{eq}[{value}]{eq}]"


_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_WRK %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

#: Each request takes the next line of the file named after ``--``: as its body, or as the value of one header
#: (a DPoP proof); ``%s`` stands for what ``request`` does with that ``value``.
_WRK_SINGLE_USE = """
local values = {}
local next_value = 1
init = function(args)
  for line in io.lines(args[1]) do values[#values + 1] = line end
end
request = function()
  local value = values[next_value]
  next_value = next_value %% #values + 1
  %s
end
"""


def _wrk_script(req: Req, single_use: bool, header: str | None = None) -> str:
    lines = [f"wrk.method = {_lua_string(req.method)}"]
    for name, value in req.headers:
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    if (not single_use or header is not None) and req.body:
        lines.append(f"wrk.body = {_lua_string(req.body.decode())}")
    script = "\n".join(lines) + "\n"
    if single_use:
        if header is None:
            use = "return wrk.format(nil, nil, nil, value)"
        else:
            use = f"wrk.headers[ {_lua_string(header)} ] = value\n  return wrk.format()"
        script += _WRK_SINGLE_USE % use
    return script + _WRK_DONE


def run_wrk(
    base_url: str,
    req: Req,
    bodies: Sequence[bytes] | None,
    duration: float,
    connections: int,
    *,
    cpus: str | None = None,
    header: str | None = None,
) -> LoadResult:
    """One wrk run (one thread, so the load generator takes at most one core), pinned to ``cpus`` if given.
    With ``header``, the single-use ``bodies`` are that header's values instead (each request sends one)."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not on PATH (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "script.lua"
        script.write_text(_wrk_script(req, bodies is not None, header))
        args = [
            exe, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
            "-s", str(script), base_url + req.path,
        ]  # fmt: skip
        if bodies is not None:
            data = Path(tmp) / "bodies.txt"
            data.write_bytes(b"\n".join(bodies) + b"\n")
            args += ["--", str(data)]
        out = subprocess.run(pinned(args, cpus), capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    return parse_wrk(out.stdout, None if bodies is None else len(bodies))


def parse_wrk(stdout: str, bodies: int | None = None) -> LoadResult:
    """The ``BENCH_WRK`` line our script's ``done`` hook prints: requests, duration (µs), errors by kind (status,
    connect, read, write, timeout) and the p50/p99 latency (µs) of wrk's own histogram. ``bodies``: how many
    single-use bodies there were (more requests than that means replays)."""
    match = re.search(r"^BENCH_WRK (.+)$", stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no BENCH_WRK line in wrk's output: {stdout[-500:]}")
    n, dur_us, status, conn, read, write, timeout, p50, p99 = (float(x) for x in match.group(1).split())
    seconds = dur_us / 1e6
    return LoadResult(
        requests=int(n),
        seconds=seconds,
        rps=n / seconds if seconds else 0.0,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        non_2xx=int(status),
        socket_errors=int(conn + read + write + timeout),
        exhausted=bodies is not None and n > bodies,
    )


def _raw(req: Req, body: bytes, host: str) -> bytes:
    head = [f"{req.method} {req.path} HTTP/1.1", f"Host: {host}"]
    head += [f"{k}: {v}" for k, v in req.headers]
    if body or req.method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
    if match is not None:
        await reader.readexactly(int(match.group(1)))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def run_python(
    host: str, port: int, req: Req, bodies: Sequence[bytes] | None, duration: float, connections: int
) -> LoadResult:
    """The fallback load generator: ``connections`` keep-alive connections on this event loop."""
    hostname = f"{host}:{port}"
    payloads = [_raw(req, b, hostname) for b in bodies] if bodies is not None else [_raw(req, req.body, hostname)]
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0, "next": 0}
    exhausted = False
    start = time.perf_counter()
    deadline = start + duration

    async def worker() -> None:
        nonlocal exhausted
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                if bodies is None:
                    data = payloads[0]
                else:
                    if counts["next"] >= len(payloads):
                        exhausted = True
                        return
                    data = payloads[counts["next"]]
                    counts["next"] += 1
                sent = time.perf_counter()
                writer.write(data)
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    counts["errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter() - sent)
                if not 200 <= status < 300:
                    counts["non_2xx"] += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(connections)))
    seconds = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        rps=len(latencies) / seconds if seconds else 0.0,
        p50_ms=_percentile(latencies, 50) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
        non_2xx=counts["non_2xx"],
        socket_errors=counts["errors"],
        exhausted=exhausted,
    )


async def run_count(host: str, port: int, req: Req, requests: int, connections: int) -> int:
    """Exactly ``requests`` requests (an equal share per keep-alive connection, so a multiple of
    ``connections``), one at a time on each; returns how many were answered 2xx. For counting, not timing."""
    payload = _raw(req, req.body, f"{host}:{port}")

    async def worker(share: int) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        answered = 0
        try:
            for _ in range(share):
                writer.write(payload)
                answered += 200 <= await _read_response(reader) < 300
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        return answered

    return sum(await asyncio.gather(*(worker(requests // connections) for _ in range(connections))))


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]
