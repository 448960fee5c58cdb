"""Child processes the run owns: private redis-server instances and uvicorn servers.

Each is started on a free loopback port and stopped by its own process handle at the end, so a run never
touches the shared Redis on 6379 or anyone else's processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent


class ProcessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class RedisServer:
    """A private ``redis-server``: no persistence, loopback only, its own temporary directory."""

    def __init__(self, executable: str = "redis-server") -> None:
        path = shutil.which(executable)
        if path is None:
            raise ProcessError(f"{executable} not found on PATH: install Redis (e.g. apt-get install redis-server)")
        self.executable = path
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        for _ in range(5):
            self.port = free_port()
            args = [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--logfile", "",
                "--loglevel", "warning",
            ]  # fmt: skip
            self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            _stop(self._proc)
        raise ProcessError("could not start a private redis-server")

    def _wait_ready(self) -> bool:
        """Ready when the server on our port answers and is our child (the run flushes it, so it must
        never be somebody else's Redis that took the port first)."""
        assert self._proc is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(100):
                if self._proc.poll() is not None:
                    return False
                with contextlib.suppress(redis.ConnectionError):
                    return int(client.info("server")["process_id"]) == self._proc.pid
                time.sleep(0.05)
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
        self._dir.cleanup()


def uvicorn_options() -> tuple[str, str]:
    """The fastest loop and HTTP parser installed, as production deployments use them (same for every app)."""
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    return loop, http


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class UvicornServer:
    """One app under ``uvicorn --factory``, 1 worker, on a free loopback port."""

    def __init__(self, name: str, target: str, env: dict[str, str]) -> None:
        self.name = name
        self.target = target
        self.env = env
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server; closed in stop)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> UvicornServer:
        # --host/--port rather than handing over a bound socket: uvicorn treats an inherited --fd as a UNIX
        # socket, which leaves TCP_NODELAY off and adds the 40 ms delayed-ACK stall to every response.
        self.port = free_port()
        loop, http = uvicorn_options()
        args = [
            sys.executable, "-m", "uvicorn", self.target, "--factory",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            "--loop", loop,
            "--http", http,
            "--log-level", "warning",
            "--no-access-log",
            "--lifespan", "on",
        ]  # fmt: skip
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO_ROOT)}
        self._proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ProcessError(f"uvicorn for {self.name} exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.base_url + "/_bench/ready", timeout=0.5)
                return
            time.sleep(0.1)
        raise ProcessError(f"uvicorn for {self.name} did not answer within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, limit: int = 1500) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return text[-limit:].strip() or "(no output)"

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
        self._log.close()
