"""Redis's own cost of issuing one token, in instructions: ``python -m benchmarks.script_cost``.

An issuing script runs in Redis, on the load generator's core in the ratios table, and the worker waits for it:
what it costs shows up as the worker's idle time, not in any profile of ours. Timing it (``INFO commandstats``)
moves with whatever else the machine does; counting the instructions Redis executes does not. So this stores
``--tokens`` lone access tokens of one client through ``RedisStore.put_access`` on a private Redis (the owner
index as deep as that many tokens make it), saves it, starts a second redis-server from that file under
valgrind's callgrind, counting only inside ``EVALSHA``, stores ``--calls`` more the same way, 32 at a time, and
prints the instructions per call. Repeatable within a fraction of a percent; run it in a checkout of each
revision to compare them. Needs ``valgrind`` and ``redis-server`` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from asgi_oauth import RedisStore, crypto
from asgi_oauth.models import AccessToken

from .processes import ProcessError, RedisServer


async def _store_tokens(url: str, count: int, client_id: str = "bench-client") -> None:
    """``count`` lone access tokens of ``client_id`` stored as the token endpoint stores them, 32 at a time."""
    store = RedisStore.from_url(url)
    now = time.time()

    async def one() -> None:
        family_id, token = crypto.new_token()
        record = AccessToken(client_id, "read write", None, int(now), now + 3600)
        await store.put_access(family_id, crypto.digest(token, "access"), record)

    try:
        for start in range(0, count, 32):
            await asyncio.gather(*(one() for _ in range(min(32, count - start))))
    finally:
        await store.aclose()


def measure(tokens: int, calls: int) -> tuple[float, int]:
    """Instructions per ``EVALSHA`` (``Ir`` of callgrind) and the number of calls counted."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ProcessError("needs valgrind on PATH (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="script-cost-") as tmp:
        out = Path(tmp) / "callgrind.out"
        counting = [valgrind, "--tool=callgrind", "--toggle-collect=evalShaCommand", f"--callgrind-out-file={out}"]
        measured = RedisServer(wrapper=counting, ready_seconds=300)
        filled = RedisServer().start()
        try:
            asyncio.run(_store_tokens(filled.url, tokens))
            filled.client().save()
            shutil.copy(filled.directory / "dump.rdb", measured.directory / "dump.rdb")
        finally:
            filled.stop()
        measured.start()
        try:
            client = measured.client()
            client.config_resetstat()
            asyncio.run(_store_tokens(measured.url, calls))
            counted = int(client.info("commandstats")["cmdstat_evalsha"]["calls"])
            client.close()
        finally:
            measured.stop(timeout=120)  # SIGTERM: Redis exits and callgrind writes its counts
        text = out.read_text() if out.exists() else ""
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if found is None:
        raise ProcessError("callgrind wrote no totals")
    return int(found.group(1)) / counted, counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.script_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="tokens stored first, not counted (100,000)")
    parser.add_argument("--calls", type=int, default=2_000, help="tokens stored under callgrind (2,000)")
    args = parser.parse_args(argv)
    print(f"storing {args.tokens:,} tokens of one client, then {args.calls:,} under callgrind...", file=sys.stderr)
    try:
        per_call, counted = measure(args.tokens, args.calls)
    except ProcessError as exc:
        print(f"script_cost: {exc}", file=sys.stderr)
        return 1
    print(f"put_access: {per_call:,.0f} instructions per EVALSHA in Redis ({counted:,} calls, {args.tokens:,} before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
