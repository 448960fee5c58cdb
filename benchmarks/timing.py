"""Timing one batch of requests in-process: CPU and wall time per request, without any sockets."""

from __future__ import annotations

import time

from .asgi_driver import ASGIApp, build_scope, call_scope
from .messages import Req


async def time_inproc(app: ASGIApp, reqs: list[Req]) -> dict[str, float]:
    """Send ``reqs`` one after another; CPU (process_time) and wall time per request, latency percentiles."""
    items = [(build_scope(r), r.body) for r in reqs]
    lat: list[float] = []
    non_2xx = 0
    perf = time.perf_counter
    cpu0, wall0 = time.process_time(), perf()
    for scope, body in items:
        t0 = perf()
        resp = await call_scope(app, scope, body)
        lat.append(perf() - t0)
        if not 200 <= resp.status < 300:
            non_2xx += 1
    cpu, wall = time.process_time() - cpu0, perf() - wall0
    lat.sort()
    n = len(items)
    return {
        "n": n,
        "cpu_us": cpu / n * 1e6,
        "wall_us": wall / n * 1e6,
        "p50_us": lat[n // 2] * 1e6,
        "p99_us": lat[min(n - 1, int(n * 0.99))] * 1e6,
        "non_2xx": non_2xx,
    }
