"""Scale checks: Redis memory per live token, and whether throughput holds with a million live tokens.

Memory: on the emptied private Redis, issue N tokens through each app's own token endpoint
(in-process) and divide the ``INFO memory`` ``used_memory`` growth by N; our refresh families go
through our store's API (a family with its first access token, as a code exchange leaves it). Requests
go one at a time: concurrent ones would open more connections, whose buffers (tens of KB each) Redis
counts in ``used_memory`` too.

Live tokens: two private Redis servers, one holding 1k realistic token keys and one 1M (same key shape and
TTL as our access tokens), each with its own in-process apps; the same scenarios alternate between them
in small chunks, and the median chunk ratio of sequential wall-clock throughput is reported.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .apps import APPS, AppSpec
from .apps.common import BenchConfig
from .asgi_driver import InProcessTransport, call
from .messages import Req
from .options import Options
from .processes import RedisServer
from .scenarios import cc_request, prepare
from .timing import time_inproc

Log = Callable[[str], None]

_FILL = """
local prefix, value, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local first, count = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = first, first + count - 1 do
  local family = string.sub(redis.sha1hex('f' .. i), 1, 22)
  local digest = string.sub(redis.sha1hex('d' .. i), 1, 32)
  redis.call('SET', prefix .. ':{' .. family .. '}:a:' .. digest, value, 'PX', ttl)
end
return count
"""
#: Same shape as one of our access-token records.
_VALUE = '["bench-client","read write",null,1700000000,1700003600000,0]'


def _used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


async def _drive(app: Any, request: Req, n: int) -> int:
    """Send ``request`` ``n`` times, one at a time; the number answered 200."""
    ok = 0
    for _ in range(n):
        ok += (await call(app, request)).status == 200
    return ok


async def memory_checks(
    opts: Options, redis: RedisServer, config: BenchConfig, apps: dict[str, Any], verified: set[str], log: Log
) -> dict[str, Any]:
    client = redis.client()
    out: dict[str, Any] = {}
    try:
        for spec in APPS:
            name = spec.name
            scenario = "set" if spec.kind == "ceiling" else "cc_token"
            if (
                name not in apps
                or f"{name}/{scenario}" not in verified
                or name in ("ours-memory", "ceiling-pipelined", "ours-redis-cache")
            ):
                continue  # no Redis, or the same keys as another app's
            n = opts.memory_tokens if spec.kind != "peer" else max(2000, opts.memory_tokens // 4)
            request = _ceiling_set() if spec.kind == "ceiling" else cc_request(spec, config)
            await _drive(apps[name], request, 100)  # the pool's connection is open before measuring
            client.flushall()
            before, keys_before = _used_memory(client), client.dbsize()
            t0 = time.monotonic()
            ok = await _drive(apps[name], request, n)
            after, keys_after = _used_memory(client), client.dbsize()
            client.flushall()
            if ok == 0:
                out[name] = {"error": "no token request succeeded"}
                continue
            out[name] = {
                "tokens": ok,
                "bytes_per_token": (after - before) / ok,
                "keys_per_token": (keys_after - keys_before) / ok,
            }
            log(
                f"  memory {name}: {(after - before) / ok:.0f} B and {(keys_after - keys_before) / ok:.2f} keys "
                f"per access token ({ok} tokens, {time.monotonic() - t0:.1f}s)"
            )
        if "ours-redis" in apps:
            out["ours-redis-family"] = await _family_memory(opts, client, apps["ours-redis"], config, log)
    finally:
        client.close()
    return out


def _ceiling_set() -> Req:
    return Req("POST", "/set")


async def _family_memory(opts: Options, client: Any, app: Any, config: BenchConfig, log: Log) -> dict[str, Any]:
    """Our refresh families, written through our store's API (family record plus its first access token)."""
    try:
        from .apps.ours import put_families
    except ImportError as exc:
        return {"error": f"not importable: {exc}"}
    n = max(1000, opts.memory_tokens // 2)
    try:
        await put_families(app, config, 256)  # pool connections opened before measuring
        client.flushall()
        before, keys_before = _used_memory(client), client.dbsize()
        await put_families(app, config, n)
    except Exception as exc:
        return {"error": f"writing families through the store failed: {exc!r}"}
    after, keys_after = _used_memory(client), client.dbsize()
    client.flushall()
    per = (after - before) / n
    log(f"  memory ours-redis: {per:.0f} B and {(keys_after - keys_before) / n:.2f} keys per refresh family (+ access)")
    return {"families": n, "bytes_per_family_with_access": per, "keys_per_family": (keys_after - keys_before) / n}


def _fill(redis: RedisServer, prefix: str, count: int, log: Log) -> None:
    client = redis.client()
    try:
        fill = client.register_script(_FILL)
        batch = 50_000
        for first in range(0, count, batch):
            fill(args=[prefix, _VALUE, 3_600_000, first, min(batch, count - first)])
        log(f"  filled redis :{redis.port} with {client.dbsize():,} live token keys")
    finally:
        client.close()


async def live_token_checks(opts: Options, config: BenchConfig, verified: set[str], log: Log) -> dict[str, Any]:
    sizes = {"small": opts.small_tokens, "big": opts.big_tokens}
    servers: dict[str, RedisServer] = {}
    built: dict[str, dict[str, Any]] = {size: {} for size in sizes}
    out: dict[str, Any] = {"small_tokens": opts.small_tokens, "big_tokens": opts.big_tokens, "targets": {}}
    try:
        for size in sizes:
            servers[size] = RedisServer().start()
        for size, count in sizes.items():
            await asyncio.to_thread(_fill, servers[size], config.key_prefix("oauth"), count, log)
        plan: list[tuple[AppSpec, str]] = [
            (spec, scenario)
            for spec in APPS
            if spec.name in ("ceiling", "ours-redis")
            for scenario in (("set", "get") if spec.kind == "ceiling" else ("cc_token", "introspect", "protected"))
            if f"{spec.name}/{scenario}" in verified
        ]
        work: dict[tuple[str, str, str], Any] = {}
        for size, server in servers.items():
            cfg = replace(config, redis_url=server.url)
            for spec in {spec.name: spec for spec, _ in plan}.values():
                built[size][spec.name] = spec.build(cfg)
            for spec, scenario in plan:
                app = built[size][spec.name]
                work[(size, spec.name, scenario)] = await prepare(spec, scenario, InProcessTransport(app), cfg)
        # Small chunks alternating between the two servers, each pair in the other order than the last, so
        # drift on the shared machine hits both alike; the median of many pair ratios damps the noise.
        pairs = opts.scale_rounds * 10
        chunk = max(50, opts.scale_requests // 10)
        for spec, scenario in plan:
            key = f"{spec.name}/{scenario}"
            walls: dict[str, float] = dict.fromkeys(sizes, 0.0)
            ratios: list[float] = []
            for pair in range(pairs):
                rate: dict[str, float] = {}
                for size in sorted(sizes, reverse=pair % 2 == 1):
                    w = work[(size, spec.name, scenario)]
                    s = await time_inproc(built[size][spec.name], [w.template] * chunk)
                    walls[size] += s["wall_us"] * chunk
                    rate[size] = 1e6 / s["wall_us"]
                ratios.append(rate["big"] / rate["small"])
            total = pairs * chunk
            small, big = total / walls["small"] * 1e6, total / walls["big"] * 1e6
            ratio = statistics.median(ratios)
            out["targets"][key] = {"small_rps": small, "big_rps": big, "ratio": ratio, "chunk_ratios": ratios}
            log(f"  live tokens {key}: {small:,.0f} req/s at {opts.small_tokens:,}, {big:,.0f} at "
                f"{opts.big_tokens:,} (median chunk ratio {ratio:.3f})")  # fmt: skip
    finally:
        for apps in built.values():
            for app in apps.values():
                await app.state.bench_close()
        for server in servers.values():
            server.stop()
    return out


async def run(
    opts: Options, redis: RedisServer, config: BenchConfig, apps: dict[str, Any], verified: set[str], log: Log
) -> dict[str, Any]:
    log("scale checks: Redis memory per live token")
    out: dict[str, Any] = {"memory": await memory_checks(opts, redis, config, apps, verified, log)}
    log(f"scale checks: throughput with {opts.small_tokens:,} vs {opts.big_tokens:,} live tokens (in-process)")
    out["live_tokens"] = await live_token_checks(opts, config, verified, log)
    return out
