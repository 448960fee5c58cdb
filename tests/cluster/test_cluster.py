"""Redis Cluster: the real app on a 3-master cluster, where every family's keys land, and a master that
freezes, stops and comes back while the same store keeps serving.

The store contract itself runs on the cluster too (tests/store/conftest.py adds a ``cluster`` store).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from asgi_oauth import crypto
from asgi_oauth.models import AuthorizationCode, Outcome
from asgi_oauth.store import RedisStore, StoreUnavailable
from asgi_oauth.testing.records import Grant, access_record, code_record, family_record

from ..conftest import LocalCluster, open_redis_store
from ..serving import free_port
from ..store.test_redis import CALLS, assert_unavailable
from .flows import App, full_flow, running_app

#: The store's Redis timeout in the fault tests.
TIMEOUT = 0.5
#: A command against a frozen master: one timed-out attempt, a re-read of the slot map, one more
#: timed-out attempt; plus slack for a slow machine. Never the redis-py default of 11 attempts.
LATENCY_BOUND = 4 * TIMEOUT + 0.5
#: Longest wait for the restarted master to serve again.
RECOVERY_LIMIT = 15.0

FAMILY_KEY = re.compile(r"[^:]+:\{([A-Za-z0-9_-]+)\}:[a-z](:.*)?")


@pytest.fixture
async def cluster_store(redis_cluster_url: str, key_prefix: str) -> AsyncIterator[RedisStore]:
    async with open_redis_store(redis_cluster_url, key_prefix=key_prefix) as store:
        yield store


def text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def keys_by_node(cluster: LocalCluster, key_prefix: str) -> list[dict[str, tuple[int, str, str]]]:
    """For each node: every key of ``key_prefix`` found by SCAN on that node, with the slot the *server*
    computes for it (CLUSTER KEYSLOT), its type and its value rendered as text."""
    found: list[dict[str, tuple[int, str, str]]] = []
    for port in cluster.ports:
        node = aioredis.Redis(port=port, socket_timeout=5)
        try:
            here: dict[str, tuple[int, str, str]] = {}
            async for raw in node.scan_iter(match=f"{key_prefix}:*", count=1000):
                key = text(raw)
                slot = int(await node.cluster("KEYSLOT", key))
                kind = text(await node.type(key))
                if kind == "string":
                    raw_value = await node.get(key)
                    value = "" if raw_value is None else text(raw_value)
                elif kind == "hash":
                    value = " ".join(f"{text(k)}={text(v)}" for k, v in (await node.hgetall(key)).items())
                elif kind == "zset":
                    members = await node.zrange(key, 0, -1)
                    value = " ".join(text(m) for m in members if isinstance(m, (bytes, str)))
                else:
                    value = ""
                here[key] = (slot, kind, value)
            found.append(here)
        finally:
            await node.aclose()
    return found


async def test_the_app_runs_every_flow_on_a_cluster(
    cluster_store: RedisStore, redis_cluster: LocalCluster, key_prefix: str
) -> None:
    assert isinstance(cluster_store.redis, RedisCluster)
    async with running_app(cluster_store) as app:
        await full_flow(app)
        issued = list(app.issued)

    nodes = await keys_by_node(redis_cluster, key_prefix)
    families: dict[str, set[tuple[int, int]]] = {}  # family id -> {(node, slot)}
    kinds: set[str] = set()
    for index, keys in enumerate(nodes):
        for key, (slot, _, _) in keys.items():
            match = FAMILY_KEY.fullmatch(key)
            if match is None:
                # Not a family's: the clients hash, a consent, a consent-form nonce, a limit bucket or known place,
                # or what a user or a client holds (``{u:...}``, ``{c:...}``: owner indexes, each in its own slot).
                assert key.split(":")[1] in {"clients", "consent", "once", "{limits}", "{u", "{c"}, key
                continue
            families.setdefault(match.group(1), set()).add((index, slot))
            kinds.add(key.split(":")[2])

    # The multi-key scripts ran for real: records, access tokens, codes and spent markers all exist.
    assert {"f", "a", "c", "s"} <= kinds, kinds
    assert len(families) >= 4, families
    for family_id, places in families.items():
        # Every key of a family is in one slot (so on one node), as the server itself computes it.
        assert len(places) == 1, (family_id, places)

    # Nothing usable is stored in the clear, on any node.
    dump = "\n".join(f"{key} {value}" for keys in nodes for key, (_, _, value) in keys.items())
    for credential in issued:
        assert credential not in dump
        assert credential.rpartition(".")[2] not in dump


async def test_families_spread_over_every_master(
    cluster_store: RedisStore, redis_cluster: LocalCluster, key_prefix: str
) -> None:
    """Store verbs on 10 families per master: each family lands whole on the node owning its slot."""
    grants = [grant_on(redis_cluster, key_prefix, index % 3) for index in range(30)]
    for grant in grants:
        await cluster_store.put_code(grant.family_id, grant.code_digest, code_record())
        assert isinstance(await cluster_store.get_code(grant.family_id, grant.code_digest), AuthorizationCode)
        assert Outcome.DONE is await cluster_store.redeem_code(
            grant.family_id,
            grant.code_digest,
            grant.access_digest,
            access_record(),
            family_record(grant.refresh_digest),
            replay_window=60,
        )
        new_refresh, new_access = grant.next_refresh()[1], grant.next_access()[1]
        assert Outcome.DONE is await cluster_store.rotate_refresh(
            grant.family_id, grant.refresh_digest, family_record(new_refresh), new_access, access_record()
        )
    nodes = await keys_by_node(redis_cluster, key_prefix)
    where = {
        match.group(1): index
        for index, keys in enumerate(nodes)
        for key in keys
        if (match := FAMILY_KEY.fullmatch(key)) is not None
    }
    assert where == {g.family_id: index % 3 for index, g in enumerate(grants)}
    for grant in grants:
        owned = [key for key in nodes[where[grant.family_id]] if grant.family_id in key]
        assert len(owned) >= 5, owned  # record, index or not, two access tokens, spent code, spent refresh
        assert len({nodes[where[grant.family_id]][key][0] for key in owned}) == 1


async def test_concurrent_calls_while_the_client_reads_the_topology(cluster_store: RedisStore) -> None:
    """redis-py's RedisCluster fails commands sent concurrently while it reads the cluster's topology (on first
    use, and after it resets itself on CLUSTERDOWN) with AttributeError; the store has it read first."""
    for _ in range(3):
        results = await asyncio.gather(*(cluster_store.lookup(Grant.mint().family_id) for _ in range(30)))
        assert all(found.family is None for found in results)
        await cluster_store.redis.aclose()  # what RedisCluster does to itself on CLUSTERDOWN


@pytest.mark.parametrize("verb", sorted(CALLS))
async def test_an_unreachable_cluster_is_store_unavailable(verb: str) -> None:
    async with open_redis_store(f"redis+cluster://127.0.0.1:{free_port()}", timeout=0.5) as store:
        await assert_unavailable(store, CALLS[verb])


# -- a master freezes, stops and restarts --------------------------------------------------------


def grant_on(cluster: LocalCluster, key_prefix: str, node: int) -> Grant:
    while True:
        grant = Grant.mint()
        if cluster.owner(f"{key_prefix}:{{{grant.family_id}}}:f") == node:
            return grant


async def m2m_token_on(app: App, cluster: LocalCluster, key_prefix: str, node: int) -> str:
    """A client_credentials token whose family lives on ``node`` (the server picks ids at random)."""
    while True:
        token: str = (await app.token("m2m", grant_type="client_credentials", scope="read"))["access_token"]
        family = crypto.family_of(token)
        assert family is not None
        if cluster.owner(f"{key_prefix}:{{{family}}}:a") == node:
            return token


async def assert_unavailable_in_time(call: Callable[[], Awaitable[object]]) -> float:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call()
    elapsed = time.monotonic() - started
    assert elapsed < LATENCY_BOUND, elapsed
    return elapsed


@pytest.mark.slow
async def test_a_master_that_freezes_then_restarts(tmp_path: Path, key_prefix: str) -> None:
    """A private cluster, so nothing else sees the outage. One store and one app throughout."""
    cluster = LocalCluster(tmp_path)
    store = RedisStore.from_url(cluster.url, key_prefix=key_prefix, timeout=TIMEOUT)
    try:
        # Rate limiting off: its counters could live on the node taken down, and they are not under test here.
        async with running_app(store, rate_limit_failures=0) as app:
            victim = next(i for i in range(3) if i != cluster.owner(f"{key_prefix}:clients"))
            healthy = next(i for i in range(3) if i != victim)
            down_token = await m2m_token_on(app, cluster, key_prefix, victim)
            up_token = await m2m_token_on(app, cluster, key_prefix, healthy)
            down, up = grant_on(cluster, key_prefix, victim), grant_on(cluster, key_prefix, healthy)

            async def ready() -> int:
                return (await app.http.get("/oauth/health/ready")).status_code

            assert await ready() == 200
            for grant in (down, up):
                await store.put_code(grant.family_id, grant.code_digest, code_record())
                await store.put_family(
                    grant.family_id, family_record(grant.refresh_digest), grant.access_digest, access_record()
                )

            def verbs(grant: Grant) -> list[Callable[[], Awaitable[object]]]:
                refresh_digest = grant.next_refresh()[1]
                return [
                    lambda: store.lookup(grant.family_id, access_digest=grant.access_digest),
                    lambda: store.take_code(grant.family_id, grant.code_digest, replay_window=60),
                    lambda: store.rotate_refresh(
                        grant.family_id, grant.refresh_digest, family_record(refresh_digest), "m" * 32, access_record()
                    ),
                    lambda: store.revoke_family(grant.family_id, client_id="nobody"),
                ]

            # 1. Frozen (SIGSTOP): its sockets stay open and nothing answers. Timeouts bound every call.
            # Only calls that change nothing: a frozen server still runs what it received once thawed.
            cluster.freeze(victim)
            try:
                frozen_store = await assert_unavailable_in_time(verbs(down)[0])
                started = time.monotonic()
                response = await app.post("introspect", "rs", token=down_token)
                frozen_http = time.monotonic() - started
                assert response.status_code == 503, response.text
                assert response.json()["error"] == "temporarily_unavailable"
                assert frozen_http < LATENCY_BOUND
                # The other masters' slots are served meanwhile; the whole is not ready: a share of requests fail.
                assert await app.active(up_token)
                assert (await store.lookup(up.family_id)).family is not None
                started = time.monotonic()
                assert await ready() == 503
                assert time.monotonic() - started < LATENCY_BOUND
            finally:
                cluster.thaw(victim)
            assert await app.active(down_token)

            # 2. Stopped (SIGTERM; its append-only file is flushed): connections are refused.
            cluster.stop(victim)
            stopped = max([await assert_unavailable_in_time(call) for call in verbs(down)])
            assert await app.active(up_token)
            assert await ready() == 503

            # 3. Restarted on the same port with the same nodes.conf: the same store and app recover.
            cluster.start(victim)
            started = time.monotonic()
            while True:
                try:
                    if await app.active(down_token):
                        break
                except AssertionError:  # a 503 while the node rejoins
                    pass
                assert time.monotonic() - started < RECOVERY_LIMIT, "the restarted master never served again"
                await asyncio.sleep(0.1)
            recovery = time.monotonic() - started
            # Its data survived, and the scripts run there again (its script cache started empty).
            assert (await store.lookup(down.family_id, access_digest=down.access_digest)).access is not None
            taken = await store.take_code(down.family_id, down.code_digest, replay_window=60)
            assert isinstance(taken, AuthorizationCode)
            next_refresh = down.next_refresh()[1]
            assert Outcome.DONE is await store.rotate_refresh(
                down.family_id, down.refresh_digest, family_record(next_refresh), "n" * 32, access_record()
            )
            assert await app.active(up_token)
            cluster.wait_ok()
            assert await ready() == 200
            print(
                f"\nmaster frozen: store call failed in {frozen_store:.2f}s, /introspect answered 503 in "
                f"{frozen_http:.2f}s; master stopped: slowest failure {stopped:.2f}s; "
                f"restarted master serving again after {recovery:.2f}s"
            )
    finally:
        await store.aclose()
        cluster.close()
