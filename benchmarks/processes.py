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
from collections.abc import Sequence
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
    """A private ``redis-server``: no persistence, loopback only, its own temporary directory.

    ``wrapper`` runs it under another program (valgrind, for ``benchmarks.script_cost``), which may need
    ``ready_seconds`` to answer; a ``dump.rdb`` put in :attr:`directory` before :meth:`start` is loaded.
    """

    def __init__(
        self,
        executable: str = "redis-server",
        *,
        cpus: str | None = None,
        wrapper: Sequence[str] = (),
        ready_seconds: float = 5.0,
    ) -> None:
        path = shutil.which(executable)
        if path is None:
            raise ProcessError(f"{executable} not found on PATH: install Redis (e.g. apt-get install redis-server)")
        self.executable = path
        self.cpus = cpus
        self.wrapper = tuple(wrapper)
        self.ready_seconds = ready_seconds
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
                *self.wrapper,
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--logfile", "",
                "--loglevel", "warning",
            ]  # fmt: skip
            self._proc = subprocess.Popen(pinned(args, self.cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
            deadline = time.monotonic() + self.ready_seconds
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    return False
                with contextlib.suppress(redis.ConnectionError):
                    client.ping()  # a LOADING error (BusyLoadingError) until it has read a dump.rdb
                    return int(client.info("server")["process_id"]) == self._proc.pid
                time.sleep(0.05)
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    @property
    def directory(self) -> Path:
        """Its working directory, where ``SAVE`` writes ``dump.rdb``."""
        return Path(self._dir.name)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop it (SIGTERM, then SIGKILL after ``timeout`` seconds) and remove its directory."""
        if self._proc is not None:
            _stop(self._proc, timeout)
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


def taskset() -> str | None:
    """util-linux's ``taskset``, which pins a command to CPUs, when it is on PATH."""
    return shutil.which("taskset")


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """``command`` run on ``cpus`` (a ``taskset -c`` list such as ``0`` or ``0,1``), or as is for ``None``.

    taskset execs the command, so the child's pid is the command's, and every thread and child process it
    starts inherits the CPUs."""
    if cpus is None:
        return command
    exe = taskset()
    if exe is None:
        raise ProcessError("taskset is not on PATH (Debian: apt-get install util-linux); run with --no-pin")
    return [exe, "-c", cpus, *command]


class Server:
    """One HTTP server child process on a free loopback port, optionally pinned to CPUs; subclasses say
    which command serves it. ``wrapper`` runs that command under another program (callgrind, for
    ``benchmarks.instructions``)."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        cpus: str | None = None,
        workers: int = 1,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.wrapper = tuple(wrapper)
        self.env = env
        self.cpus = cpus
        self.workers = workers
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server; closed in stop)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process (its workers are its children), while it runs."""
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path:
        return REPO_ROOT

    def start(self) -> Server:
        self.port = free_port()
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO_ROOT), "PORT": str(self.port)}
        args = pinned([*self.wrapper, *self.command()], self.cpus)
        self._proc = subprocess.Popen(args, cwd=self.cwd(), env=env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Any HTTP answer counts (the apps answer 404 for the probe path; what counts is that they listen)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ProcessError(f"the server for {self.name} exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.base_url + "/_bench/ready", timeout=0.5)
                return
            time.sleep(0.1)
        raise ProcessError(f"the server for {self.name} did not answer within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, limit: int = 1500) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return text[-limit:].strip() or "(no output)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop it (SIGTERM, then SIGKILL after ``timeout`` seconds) and remove its directory."""
        if self._proc is not None:
            _stop(self._proc, timeout)
            self._proc = None
        self._log.close()


class UvicornServer(Server):
    """One app under ``uvicorn --factory`` with ``workers`` worker processes."""

    def __init__(
        self,
        name: str,
        target: str,
        env: dict[str, str],
        *,
        cpus: str | None = None,
        workers: int = 1,
        wrapper: Sequence[str] = (),
    ) -> None:
        super().__init__(name, env, cpus=cpus, workers=workers, wrapper=wrapper)
        self.target = target

    def command(self) -> list[str]:
        # --host/--port rather than handing over a bound socket: uvicorn treats an inherited --fd as a UNIX
        # socket, which leaves TCP_NODELAY off and adds the 40 ms delayed-ACK stall to every response.
        loop, http = uvicorn_options()
        return [
            sys.executable, "-m", "uvicorn", self.target, "--factory",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", str(self.workers),
            "--loop", loop,
            "--http", http,
            "--log-level", "warning",
            "--no-access-log",
            "--lifespan", "on",
        ]  # fmt: skip
