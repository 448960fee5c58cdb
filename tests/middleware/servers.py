"""Real processes for the remote-validation tests: ``asgi-oauth serve`` and the example resource server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from asgi_oauth import RedisStore, register_client

from ..conftest import free_port
from .helpers import Cred

ROOT = Path(__file__).resolve().parent.parent.parent
SERVE = [sys.executable, "-m", "asgi_oauth.cli", "serve"]
START_TIMEOUT = 30.0
SECRET_KEY = "remote-test-signing-key-0123456789abcdefghij"
T = TypeVar("T")


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without any ``ASGI_OAUTH_*`` setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASGI_OAUTH_")}
    env.update(variables)
    return env


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a loop of its own in another thread (sync fixtures, any loop state)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert result, "the coroutine did not finish"
    return result[0]


def register_in_redis(redis_url: str, key_prefix: str, clients: Iterable[Cred]) -> None:
    async def register() -> None:
        store = RedisStore.from_url(redis_url, key_prefix=key_prefix)
        try:
            for cred in clients:
                await register_client(store, cred.client)
        finally:
            await store.aclose()

    run_async(register())


@dataclass
class Process:
    base_url: str
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def running(
    argv: list[str], env: Mapping[str, str], port: int, logs: Path, *, ready_path: str = "/"
) -> Iterator[Process]:
    """Start ``argv`` (which listens on ``port``), wait until ``ready_path`` answers 200, always stop it."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "stdout.txt", logs / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            process = Process(f"http://127.0.0.1:{port}", out, err)
            deadline = time.monotonic() + START_TIMEOUT
            with httpx.Client(timeout=2) as http:
                while True:
                    if proc.poll() is not None:
                        pytest.fail(f"{argv} exited with {proc.returncode}:\n{process.stderr}")
                    try:
                        if http.get(process.base_url + ready_path).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail(f"{argv} did not answer within {START_TIMEOUT}s:\n{process.stderr}")
                    time.sleep(0.1)
            yield process
        finally:
            _stop(proc)


@contextmanager
def serve(logs: Path, **settings: str) -> Iterator[Process]:
    """``asgi-oauth serve`` on a free port; ``settings`` are ``ASGI_OAUTH_*`` variables without the prefix."""
    port = free_port()
    env = clean_env(**{f"ASGI_OAUTH_{name.upper()}": value for name, value in settings.items()})
    with running([*SERVE, "--port", str(port)], env, port, logs) as process:
        yield process
