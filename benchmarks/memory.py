"""Redis memory per live access token, by key kind: part of the default run, or ``python -m benchmarks.memory``.

Our server with its defaults on Redis (the app of the ratios table) issues ``tokens`` client_credentials tokens
through its own token endpoint, called in-process (64 requests at a time), on an emptied private Redis: first
all for one client, then spread evenly over ``clients`` clients. Then every key is read back with
``MEMORY USAGE key SAMPLES 0`` (every element of an index counted, not a sample), grouped by what it is (the
access-token records, the client indexes that let one command end all of a client's tokens, anything else),
and divided by the number of tokens. ``INFO memory`` ``used_memory`` growth per token is shown beside it: it
also counts the key space's own hash table, which grows in powers of two, so it moves in steps.
Target: at most 256 bytes per live token, in both layouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis as redis_sync

from asgi_oauth.store.records import Keys

from .apps.common import BenchConfig
from .apps.ours import client_ids, create_app
from .asgi_driver import call
from .messages import basic_auth, form_post
from .options import RESULTS_DIR, Options
from .processes import RedisServer

Log = Callable[[str], None]
#: Bytes per live token the product aims to stay under, in both layouts.
TARGET_BYTES = 256
#: Token requests in flight at once (MEMORY USAGE counts keys only, so connections' buffers do not matter).
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class KeyKind:
    name: str
    pattern: re.Pattern[str]


def key_kinds(prefix: str) -> list[KeyKind]:
    """The kinds a client_credentials token leaves, as regular expressions built from the store's key schema."""
    keys = Keys(prefix)
    family, digest = "\x00", "\x01"

    def shape(example: str, tail: str = "", **holes: str) -> re.Pattern[str]:
        text = re.escape(example)
        for hole, matcher in holes.items():
            text = text.replace(re.escape(hole), matcher)
        return re.compile(text + tail)

    tag = r"[A-Za-z0-9_\-]+"
    hashed = r"[0-9a-f]{32}"
    bucket = r"(?::[A-Za-z0-9_\-]{1,3})?"  # an index's buckets: its key, ":" and a family id's first characters
    client_index = keys.client_grants("client")
    user_index = keys.user_grants("user")
    return [
        KeyKind("access token records", shape(keys.access(family, digest), **{family: tag, digest: tag})),
        KeyKind("client indexes", shape(client_index, bucket, **{_hex_of(client_index): hashed})),
        KeyKind("user indexes", shape(user_index, bucket, **{_hex_of(user_index): hashed})),
        KeyKind("refresh families", shape(keys.family(family), **{family: tag})),
        KeyKind("family indexes", shape(keys.index(family), **{family: tag})),
    ]


def _hex_of(key: str) -> str:
    match = re.search(r"[0-9a-f]{32}", key)
    assert match is not None, key
    return match.group(0)


def classify(key: str, kinds: Iterable[KeyKind]) -> str:
    for kind in kinds:
        if kind.pattern.fullmatch(key):
            return kind.name
    return "other keys"


def summarise(usage: Iterable[tuple[str, int]], kinds: list[KeyKind], tokens: int) -> dict[str, Any]:
    """Per kind: keys, bytes, bytes per token; and overall bytes per token. ``usage``: (key, MEMORY USAGE)."""
    by_kind: dict[str, dict[str, float]] = {}
    total = 0
    for key, size in usage:
        entry = by_kind.setdefault(classify(key, kinds), {"keys": 0, "bytes": 0})
        entry["keys"] += 1
        entry["bytes"] += size
        total += size
    for entry in by_kind.values():
        entry["bytes_per_token"] = entry["bytes"] / tokens if tokens else 0.0
    return {"tokens": tokens, "bytes": total, "bytes_per_token": total / tokens if tokens else 0.0, "kinds": by_kind}


def memory_usage(client: redis_sync.Redis) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    batch: list[str] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        out.extend((k, int(v or 0)) for k, v in zip(batch, pipe.execute(), strict=True))
        batch.clear()

    for raw in client.scan_iter(count=1000):
        batch.append(raw.decode() if isinstance(raw, bytes) else str(raw))
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    return out


async def _issue(app: Any, auths: list[str], per_client: int, path: str) -> int:
    """``per_client`` tokens for each client, CONCURRENCY requests at a time; the number answered 200."""
    requests = [
        form_post(path, {"grant_type": "client_credentials", "scope": "read"}, auth=auth)
        for auth in auths
        for _ in range(per_client)
    ]
    ok = 0
    for start in range(0, len(requests), CONCURRENCY):
        answers = await asyncio.gather(*(call(app, r) for r in requests[start : start + CONCURRENCY]))
        ok += sum(a.status == 200 for a in answers)
    return ok


async def measure(config: BenchConfig, redis: RedisServer, tokens: int, clients: int, log: Log) -> dict[str, Any]:
    """One layout: ``tokens`` tokens spread evenly over ``clients`` clients, on an emptied Redis."""
    client = redis.client()
    app = create_app(config, cache=True, clients=clients)
    try:
        client.flushall()
        auths = [basic_auth(cid, config.client_secret) for cid in client_ids(config, clients)]
        await _issue(app, auths[:1], 1, "/oauth/token")  # connections and scripts loaded before measuring
        client.flushall()
        before = int(client.info("memory")["used_memory"])
        started = time.monotonic()
        ok = await _issue(app, auths, tokens // clients, "/oauth/token")
        issued_s = time.monotonic() - started
        after = int(client.info("memory")["used_memory"])
        out = summarise(memory_usage(client), key_kinds(config.key_prefix("oauth")), ok)
        out.update(
            clients=clients,
            requested=tokens // clients * clients,
            used_memory_per_token=(after - before) / ok if ok else 0.0,
            issue_s=round(issued_s, 1),
        )
        log(
            f"  memory, {clients:,} client{'s' if clients > 1 else ''}: {out['bytes_per_token']:.0f} B per token "
            f"(MEMORY USAGE), {out['used_memory_per_token']:.0f} B (used_memory growth); {ok:,} tokens in "
            f"{issued_s:.1f} s"
        )
        return out
    finally:
        client.flushall()
        client.close()
        await app.state.bench_close()


async def run(opts: Options, redis: RedisServer, config: BenchConfig, log: Log) -> dict[str, Any]:
    log(f"memory: {opts.memory_tokens:,} tokens of one client, then of {opts.memory_clients:,} clients")
    layouts = {}
    for clients in (1, opts.memory_clients):
        try:
            layouts[str(clients)] = await measure(config, redis, opts.memory_tokens, clients, log)
        except Exception as exc:
            layouts[str(clients)] = {"clients": clients, "error": repr(exc)}
            log(f"  memory, {clients:,} clients: failed: {exc!r}")
    return {"tokens": opts.memory_tokens, "target_bytes": TARGET_BYTES, "layouts": layouts}


def lines(result: dict[str, Any]) -> list[str]:
    """The report's section: one row per key kind and layout, then the totals."""
    layouts = result.get("layouts", {})
    if not layouts:
        return []
    out = [
        "### Redis memory per live access token",
        "",
        f"{result['tokens']:,} client_credentials tokens issued through our token endpoint (defaults with Redis), "
        "then `MEMORY USAGE key SAMPLES 0` summed over every key by kind, divided by the tokens.",
        "",
        "| layout | key kind | keys | bytes | bytes per token |",
        "|---|---|---:|---:|---:|",
    ]
    for layout in layouts.values():
        name = _layout_name(layout)
        if "error" in layout:
            out.append(f"| {name} | failed: {layout['error']} | | | |")
            continue
        for kind, entry in sorted(layout["kinds"].items(), key=lambda kv: -kv[1]["bytes"]):
            out.append(
                f"| {name} | {kind} | {entry['keys']:,.0f} | {entry['bytes']:,.0f} | {entry['bytes_per_token']:.1f} |"
            )
        out.append(
            f"| {name} | **all keys** (used_memory growth: {layout['used_memory_per_token']:.0f} B per token) | "
            f"{sum(e['keys'] for e in layout['kinds'].values()):,.0f} | {layout['bytes']:,.0f} | "
            f"**{layout['bytes_per_token']:.1f}** |"
        )
    return [*out, ""]


def _layout_name(layout: dict[str, Any]) -> str:
    clients = int(layout["clients"])
    return "one client" if clients == 1 else f"{clients:,} clients"


def worst(result: dict[str, Any]) -> tuple[float, str] | None:
    """The larger bytes-per-token of the layouts measured, and which layout it was."""
    measured = [
        (float(v["bytes_per_token"]), _layout_name(v)) for v in result.get("layouts", {}).values() if "error" not in v
    ]
    return max(measured) if measured else None


def main(argv: list[str] | None = None) -> int:
    from .cli import _run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="tokens per layout (default 100000)")
    parser.add_argument("--clients", type=int, default=1_000, help="clients of the second layout (default 1000)")
    args = parser.parse_args(argv)
    opts = Options(memory_tokens=args.tokens, memory_clients=args.clients)
    redis = RedisServer().start()
    config = BenchConfig(redis_url=redis.url, client_id="bench-client", client_secret=secrets.token_urlsafe(32))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        result = _run(run(opts, redis, config, log))
    finally:
        redis.stop()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
