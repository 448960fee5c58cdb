"""Shared fixtures: a private redis-server per test session, and a store per test on it or in memory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from asgi_oauth.store import MemoryStore, RedisStore, Store

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


@pytest.fixture
async def redis_store(redis_url: str, key_prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis_url, key_prefix=key_prefix)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> AsyncIterator[Store]:
    """Each test using this runs twice: on the memory store and on a real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore.from_url(redis_url, key_prefix=key_prefix)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()
