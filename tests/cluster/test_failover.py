"""A Cluster primary killed under load, and slots moved under load: a store fault is a 503 and nothing else.

A private Cluster of three primaries, each with a replica, and a one-second node timeout so a replica takes over
quickly. Traffic of every kind runs while a primary dies (connections closed mid-command, CLUSTERDOWN, MOVED to
the promoted replica) or while slots migrate between primaries (ASK, MOVED, TRYAGAIN for multi-key scripts). No
answer may be a 4xx that blames the request, or a 500; no token issued and replicated before may be lost; no
revocation that was answered may be undone.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from redis.crc import key_slot

from asgi_oauth import crypto
from asgi_oauth.store import RedisStore

from ..conftest import LocalCluster
from .flows import CALLBACK, App, running_app

pytestmark = pytest.mark.slow

#: The store's Redis timeout: a dead node is given up on quickly, so the load keeps moving.
TIMEOUT = 0.5
#: Longest a failover or a migration may take before the test calls it stuck.
SETTLE_LIMIT = 30.0
#: Tokens of each kind made before the fault.
BEFORE = 24
#: Concurrent request loops.
LOOPS = 8


@dataclass
class Seen:
    """Every status per operation, and every answer that was neither the expected one nor a 503."""

    statuses: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)

    def saw(self, op: str, response: httpx.Response) -> bool:
        self.statuses[f"{op} {response.status_code}"] += 1
        if response.status_code == 200:
            return True
        if response.status_code != 503 or response.json().get("error") != "temporarily_unavailable":
            self.wrong.append(f"{op}: {response.status_code} {response.text[:200]}")
        return False


@dataclass
class Tokens:
    """Made before the fault and replicated: clients' tokens, refresh tokens, unused codes; and what the load did."""

    m2m: list[str]
    refresh: list[str]
    codes: list[tuple[str, str]]
    revoked: list[str] = field(default_factory=list)
    #: Whose revocation was sent: inactive from the moment Redis ran it, before its answer is back (or a 503).
    revoking: set[str] = field(default_factory=set)


def replicated(cluster: LocalCluster) -> None:
    """Wait until every live primary's replicas have every write it took so far."""
    deadline = time.monotonic() + SETTLE_LIMIT
    for index, proc in enumerate(cluster.procs):
        if proc is None:
            continue
        with cluster.node(index) as node:
            info = node.info("replication")
            if info["role"] != "master":
                continue
            while True:
                info = node.info("replication")
                offsets = [v["offset"] for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
                if offsets and min(offsets) >= info["master_repl_offset"]:
                    break
                assert time.monotonic() < deadline, f"node {index}'s replicas never caught up"
                time.sleep(0.02)


async def made_before(app: App, cluster: LocalCluster) -> Tokens:
    m2m = [
        (await app.token("m2m", grant_type="client_credentials", scope="read"))["access_token"] for _ in range(BEFORE)
    ]
    refresh, codes = [], []
    for n in range(BEFORE):
        code, verifier = await app.authorize_code("web", consent=n == 0)  # then remembered
        form = {"code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        refresh.append((await app.token("web", grant_type="authorization_code", **form))["refresh_token"])
        codes.append(await app.authorize_code("web", consent=False))
    replicated(cluster)
    return Tokens(m2m, refresh, codes)


async def load(app: App, tokens: Tokens, seen: Seen, stop: asyncio.Event, seed: int) -> None:
    """Issue, introspect and revoke until ``stop``."""
    rng = random.Random(seed)
    while not stop.is_set():
        op = rng.choice(["issue", "introspect", "introspect", "revoke"])
        if op == "issue":
            seen.saw(op, await app.post("token", "m2m", grant_type="client_credentials", scope="read"))
        elif op == "introspect":
            token = rng.choice(tokens.m2m)
            response = await app.post("introspect", "rs", token=token)
            if seen.saw(op, response) and not response.json()["active"] and token not in tokens.revoking:
                seen.wrong.append(f"introspect: a token made before the fault is inactive: {response.text}")
        elif op == "revoke" and len(tokens.m2m) > BEFORE // 2:
            token = tokens.m2m.pop()
            tokens.revoking.add(token)
            if seen.saw(op, await app.post("revoke", "m2m", token=token)):
                tokens.revoked.append(token)
        await asyncio.sleep(0)


async def spend(app: App, tokens: Tokens, seen: Seen) -> None:
    """Exchange a code and refresh a family every tenth of a second while the fault lasts: each made-before value
    used once, and not again after a 503 (which may mean it was spent)."""
    while tokens.codes or tokens.refresh:
        if tokens.codes:
            code, verifier = tokens.codes.pop()
            form = {"code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
            seen.saw("exchange", await app.post("token", "web", grant_type="authorization_code", **form))
        if tokens.refresh:
            form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh.pop()}
            seen.saw("refresh", await app.post("token", "web", **form))
        await asyncio.sleep(0.1)


async def under_load(app: App, tokens: Tokens, fault: Callable[[], Awaitable[None]]) -> Seen:
    seen, stop = Seen(), asyncio.Event()
    loops = [asyncio.create_task(load(app, tokens, seen, stop, seed)) for seed in range(LOOPS)]
    try:
        await asyncio.sleep(0.5)
        await asyncio.gather(fault(), spend(app, tokens, seen))
        await asyncio.sleep(1.0)  # and some more traffic once it is over
    finally:
        stop.set()
        await asyncio.gather(*loops)
    return seen


async def afterwards(app: App, tokens: Tokens, seen: Seen) -> None:
    """Nothing made before was lost, nothing revoked came back, and every answer was right or a 503."""
    print(f"\n{dict(sorted(seen.statuses.items()))}")
    assert seen.wrong == []
    for token in tokens.m2m:
        assert await app.active(token), "a token made and replicated before the fault was lost"
    for token in tokens.revoked:
        assert not await app.active(token), "a revocation that was answered came undone"
    assert any(status.endswith(" 200") for status in seen.statuses)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)


async def test_a_primary_killed_under_load(tmp_path: Path, key_prefix: str) -> None:
    cluster = LocalCluster(tmp_path, replicas=1, node_timeout_ms=1000)
    store = RedisStore.from_url(cluster.url, key_prefix=key_prefix, timeout=TIMEOUT)
    try:
        async with running_app(store, rate_limit_failures=0) as app:
            tokens = await made_before(app, cluster)
            # The primary of the clients hash: every request needs it, so every request meets the failover.
            victim = cluster.primary_of(f"{key_prefix}:clients")

            def promoted() -> bool:
                try:
                    return cluster.primary_of(f"{key_prefix}:clients") != victim
                except (AssertionError, redis.RedisError):
                    return False

            async def kill() -> None:
                proc = cluster.procs[victim]
                assert proc is not None
                proc.kill()
                proc.wait()
                cluster.procs[victim] = None
                await wait_until(promoted, "the replica's promotion")

            seen = await under_load(app, tokens, kill)
            assert any(status.endswith(" 503") for status in seen.statuses), "the fault was never met"
            await afterwards(app, tokens, seen)
    finally:
        await store.aclose()
        cluster.close()


def migrate(cluster: LocalCluster, slot: int, source: int, target: int) -> None:
    """Move ``slot`` from node ``source`` to ``target`` the way redis-cli's resharding does, key by key."""
    with cluster.node(source) as src, cluster.node(target) as dst:
        src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 10):
            src.execute_command("MIGRATE", "127.0.0.1", cluster.ports[target], "", 0, 5000, "KEYS", *keys)
            time.sleep(0.01)  # the load meets the slot half moved: ASK, and TRYAGAIN for scripts across both
        for index in range(len(cluster.ports)):
            if cluster.procs[index] is not None:
                with cluster.node(index) as node:
                    if node.execute_command("ROLE")[0] == b"master":
                        node.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


async def test_slots_moved_under_load(tmp_path: Path, key_prefix: str) -> None:
    cluster = LocalCluster(tmp_path, replicas=1, node_timeout_ms=1000)
    store = RedisStore.from_url(cluster.url, key_prefix=key_prefix, timeout=TIMEOUT)
    try:
        async with running_app(store, rate_limit_failures=0) as app:
            tokens = await made_before(app, cluster)
            # The slots of the families in use and of the clients hash, from wherever they are to another primary.
            keys = [f"{key_prefix}:clients"] + [f"{key_prefix}:{{{crypto.family_of(t)}}}:f" for t in tokens.m2m[:8]]
            slots = sorted({key_slot(key.encode()) for key in keys})

            async def reshard() -> None:
                for slot in slots:
                    source = cluster.primary_of_slot(slot)
                    target = (source + 1) % cluster.masters
                    await asyncio.to_thread(migrate, cluster, slot, source, target)

            seen = await under_load(app, tokens, reshard)
            await afterwards(app, tokens, seen)
    finally:
        await store.aclose()
        cluster.close()
