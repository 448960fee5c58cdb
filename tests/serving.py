"""Running ``asgi-oauth serve`` for real in a subprocess, for the tests that need a live server."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

FORM = {"content-type": "application/x-www-form-urlencoded"}

CLI = [sys.executable, "-m", "asgi_oauth.cli"]


def free_port() -> int:
    """A port nothing listens on right now (closed again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


START_TIMEOUT = 30.0


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASGI_OAUTH_")}
    env.update(settings)
    return env


@dataclass
class Server:
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
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: uvicorn's workers too
        proc.wait(timeout=10)


@contextmanager
def serving(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[Server]:
    """Run ``asgi-oauth serve`` on a free port until it answers; always stop it afterwards."""
    port = free_port()
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            server = Server(f"http://127.0.0.1:{port}", out, err)
            deadline = time.monotonic() + START_TIMEOUT
            with httpx.Client(timeout=2) as http:
                while True:
                    if proc.poll() is not None:
                        pytest.fail(f"serve exited with {proc.returncode}:\n{server.stderr}")
                    try:
                        if http.get(server.base_url + "/").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail(f"serve did not answer within {START_TIMEOUT}s:\n{server.stderr}")
                    time.sleep(0.1)
            yield server
        finally:
            _stop(proc)


def banner_value(banner: str, label: str) -> str:
    match = re.search(rf"^\s*{label}:\s+(\S+)\s*$", banner, re.MULTILINE)
    assert match, f"no {label} in banner:\n{banner}"
    return match.group(1)


def run_printed_curl(banner: str) -> httpx.Response:
    """Do what the banner's client_credentials curl does, after checking it is a well-formed command."""
    (line,) = [line for line in banner.splitlines() if "grant_type=client_credentials" in line]
    argv = shlex.split(line)
    assert argv[0] == "curl"
    user = argv[argv.index("-u") + 1]
    data = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-d"]
    client_id, _, secret = user.partition(":")
    with httpx.Client(timeout=10) as http:
        return http.post(argv[-1], auth=(client_id, secret), content="&".join(data), headers=FORM)
