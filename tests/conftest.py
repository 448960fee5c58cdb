"""Shared fixtures: a private redis-server per test session, and a store per test on it or in memory."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from asgi_oauth.store import MemoryStore, RedisStore, Store
from asgi_oauth.store.host_ring import ring_path
from asgi_oauth.validation_cache import CacheOptions

from .serving import free_port


def start_redis(tmp: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """Start a throw-away redis-server on ``port`` and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not on PATH. Install it (Debian/Ubuntu: apt-get install redis-server) "
            "or point ASGI_OAUTH_TEST_REDIS_URL at a Redis you can flush.",
            pytrace=False,
        )
    tmp.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(tmp), "--logfile", str(tmp / "redis.log"), *extra]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"redis-server did not start on port {port}; see {tmp / 'redis.log'}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _remove_host_rings() -> Iterator[None]:
    """Every Redis store shares its revocations with the machine through a small file per key prefix; the suite
    uses a prefix per test, so it removes the files it made (production keeps one per deployment)."""

    def rings() -> set[Path]:
        return set(ring_path("").parent.glob(f"asgi_oauth-{os.getuid()}-*.ring"))

    before = rings()
    yield
    for path in rings() - before:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis for tests: ``ASGI_OAUTH_TEST_REDIS_URL`` if set, else a private server on a free port."""
    given = os.environ.get("ASGI_OAUTH_TEST_REDIS_URL")
    if given:
        yield given
        return
    port = free_port()
    proc = start_redis(tmp_path_factory.mktemp("redis"), port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def key_prefix() -> str:
    """A prefix no other test uses, so tests share one Redis without seeing each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def open_redis_store(url: str, **options: Any) -> AsyncIterator[RedisStore]:
    """``RedisStore.from_url(url, **options)``, closed again on the way out."""
    store = RedisStore.from_url(url, **options)
    try:
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def trusting_cache(url: str, **options: Any) -> AsyncIterator[RedisStore]:
    """A RedisStore with the validation cache, once the cache trusts its revocation subscription: a token it
    validated is then answered from memory, as in production."""
    async with open_redis_store(url, cache=CacheOptions(), **options) as store:
        cache = store.validation_cache
        assert cache is not None
        deadline = time.monotonic() + 10
        while not cache.trusted():
            assert time.monotonic() < deadline, "the cache never trusted its subscription"
            await asyncio.sleep(0.01)
        yield store


@pytest.fixture
async def redis_store(redis_url: str, key_prefix: str) -> AsyncIterator[RedisStore]:
    async with open_redis_store(redis_url, key_prefix=key_prefix) as store:
        yield store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> AsyncIterator[Store]:
    """Each test using this runs twice: on the memory store and on a real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    async with open_redis_store(redis_url, key_prefix=key_prefix) as redis_store:
        yield redis_store


@pytest.fixture
async def unreachable_store(key_prefix: str) -> AsyncIterator[RedisStore]:
    """A RedisStore pointed at a closed port: every command fails, quickly."""
    async with open_redis_store(f"redis://127.0.0.1:{free_port()}/0", key_prefix=key_prefix, timeout=0.5) as store:
        yield store


# -- Redis Cluster and Sentinel ------------------------------------------------------------------

CLUSTER_SLOTS = 16384


def free_cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too, so any Redis >= 5 can use both."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class LocalCluster:
    """A Redis Cluster of private ``redis-server`` masters on free ports, each with ``replicas`` replicas.

    Nodes ``0 .. masters - 1`` start as the masters (slots split evenly, in order); node ``masters + i`` starts as
    a replica of master ``i % masters``. Each node keeps its ``nodes.conf`` and an append-only file in its own
    directory, so :meth:`start` after :meth:`stop` brings the same node back: same port, same slots, same data.
    """

    def __init__(self, tmp: Path, masters: int = 3, *, replicas: int = 0, node_timeout_ms: int = 15000) -> None:
        self.tmp = tmp
        self.masters = masters
        self.ports = [free_cluster_port() for _ in range(masters * (1 + replicas))]
        self.node_timeout_ms = node_timeout_ms
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.ports)
        try:
            for index in range(len(self.ports)):
                self.start(index)
            self._assign_slots()
            self.wait_ok()
            self._replicate()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        """Every node as a seed, so the client finds the cluster even if one of them is down."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def owner(self, key: str) -> int:
        """Index of the master first given ``key``'s slot (the slots are split evenly, in order)."""
        slot = key_slot(key.encode())
        return max(i for i in range(self.masters) if slot >= i * CLUSTER_SLOTS // self.masters)

    def node(self, index: int) -> redis.Redis:
        """A plain client on one node (the caller closes it)."""
        return redis.Redis(port=self.ports[index], socket_timeout=5)

    def start(self, index: int) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", str(self.node_timeout_ms), "--appendonly", "yes"]
        # A replica syncs at once, and may take over however long its master has been gone (a test kills it
        # when it likes; production keeps Redis's defaults).
        args += ["--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0"]
        self.procs[index] = start_redis(self.tmp / f"node{index}", self.ports[index], *args)

    def stop(self, index: int) -> None:
        proc = self.procs[index]
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            self.procs[index] = None

    def freeze(self, index: int) -> None:
        """SIGSTOP: the node keeps its sockets open and answers nothing (a hung or partitioned server)."""
        proc = self.procs[index]
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)

    def thaw(self, index: int) -> None:
        proc = self.procs[index]
        assert proc is not None
        proc.send_signal(signal.SIGCONT)

    def _assign_slots(self) -> None:
        count = self.masters
        for index in range(len(self.ports)):
            with self.node(index) as node:
                if index < count:
                    slots = range(index * CLUSTER_SLOTS // count, (index + 1) * CLUSTER_SLOTS // count)
                    node.execute_command("CLUSTER ADDSLOTS", *slots)
                if index:
                    node.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])

    def _replicate(self, timeout: float = 30) -> None:
        """Make each replica follow its master, and wait until every master has its replicas online."""
        if len(self.ports) == self.masters:
            return
        for index in range(self.masters, len(self.ports)):
            with self.node(index % self.masters) as master:
                master_id = master.execute_command("CLUSTER MYID")
            with self.node(index) as replica:
                replica.execute_command("CLUSTER REPLICATE", master_id)
        wanted = len(self.ports) // self.masters - 1
        deadline = time.monotonic() + timeout
        for index in range(self.masters):
            with self.node(index) as master:
                while (
                    sum(
                        1
                        for name, value in master.info("replication").items()
                        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
                    )
                    < wanted
                ):
                    if time.monotonic() > deadline:
                        pytest.fail(f"the replicas of node {index} never connected; logs in {self.tmp}")
                    time.sleep(0.05)
        self.wait_ok(timeout)

    def primary_of(self, key: str) -> int:
        """Index of the node that serves ``key``'s slot now, as a live node sees it (after a failover, a former
        replica)."""
        return self.primary_of_slot(key_slot(key.encode()))

    def primary_of_slot(self, slot: int) -> int:
        for index, proc in enumerate(self.procs):
            if proc is None:
                continue
            with self.node(index) as node:
                for start, end, (_, port, *_), *_ in node.execute_command("CLUSTER SLOTS"):
                    if start <= slot <= end:
                        return self.ports.index(int(port))
        raise AssertionError(f"no live node knows who serves slot {slot}")

    def wait_ok(self, timeout: float = 20) -> None:
        """Until every running node says ``cluster_state:ok`` and knows every other node."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for index, proc in enumerate(self.procs):
                if proc is None:
                    continue
                with self.node(index) as node:
                    info = node.cluster("info")
                states.append(info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) >= len(self.ports))
            if all(states):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"Redis Cluster on {self.ports} did not reach cluster_state:ok; logs in {self.tmp}")
            time.sleep(0.05)

    def close(self) -> None:
        for index, proc in enumerate(self.procs):
            if proc is not None:
                proc.send_signal(signal.SIGCONT)
                self.stop(index)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-master Redis Cluster for the whole session (private processes; torn down at the end)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: LocalCluster) -> str:
    return redis_cluster.url


SENTINEL_SERVICE = "oauth-master"


def start_sentinel(tmp: Path, port: int, master_port: int) -> subprocess.Popen[bytes]:
    """Start a Sentinel watching the master on ``master_port`` as ``SENTINEL_SERVICE``; wait until it knows it."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "sentinel.conf"
    config.write_text(f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master_port} 1\n")
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, str(config), "--sentinel", "--port", str(port), "--bind", "127.0.0.1"]
    proc = subprocess.Popen([*args, "--dir", str(tmp), "--logfile", str(tmp / "sentinel.log")])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, socket_timeout=1) as sentinel:
                if sentinel.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE):
                    return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"redis sentinel did not start on port {port}; see {tmp / 'sentinel.log'}", pytrace=False)


@pytest.fixture(scope="session")
def redis_sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+sentinel://`` URL of one Sentinel watching one private master (torn down at the end)."""
    tmp = tmp_path_factory.mktemp("sentinel")
    master_port, sentinel_port = free_port(), free_port()
    master = start_redis(tmp / "master", master_port)
    try:
        sentinel = start_sentinel(tmp / "sentinel", sentinel_port, master_port)
        try:
            yield f"redis+sentinel://127.0.0.1:{sentinel_port}/{SENTINEL_SERVICE}/0"
        finally:
            sentinel.terminate()
            sentinel.wait(timeout=10)
    finally:
        master.terminate()
        master.wait(timeout=10)


@pytest.fixture(scope="session")
def openid_client() -> Path:
    """Node 22 running panva's openid-client (:data:`tests.npm.OPENID_CLIENT`), installed once; the test is skipped,
    saying why, where it cannot be installed."""
    from .npm import OPENID_CLIENT, NpmUnavailable

    try:
        return OPENID_CLIENT.install()
    except NpmUnavailable as exc:
        pytest.skip(str(exc))
