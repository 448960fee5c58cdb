"""Running the project's programs for real: ``asgi-oauth serve`` and the examples, for the tests that need them.

:func:`serving` starts ``asgi-oauth serve`` on a free loopback port and :func:`running` any other program
that listens on one (the remote resource server example); both wait until it answers, every wait is
bounded, and the process is always stopped afterwards. The soak driver (``python -m tests.reliability.soak``)
uses the same pieces outside pytest.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

ROOT = Path(__file__).resolve().parent.parent
#: What a user reads: the README and the documentation site's pages (not what npm installs beside them in docs/npm).
DOC_PAGES = [
    ROOT / "README.md",
    *sorted(page for page in (ROOT / "docs").rglob("*.md") if page.relative_to(ROOT / "docs").parts[0] != "npm"),
]

FORM = {"content-type": "application/x-www-form-urlencoded"}

CLI = [sys.executable, "-m", "asgi_oauth.cli"]

START_TIMEOUT = 30.0
#: Seconds a stopped process may take to exit before it is killed.
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A port nothing listens on right now (closed again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without any ``ASGI_OAUTH_*`` setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASGI_OAUTH_")}
    env.update(variables)
    return env


def settings_env(**settings: str) -> dict[str, str]:
    """:func:`clean_env` with ``settings`` as ``ASGI_OAUTH_*`` variables, named without the prefix."""
    return clean_env(**{f"ASGI_OAUTH_{name.upper()}": value for name, value in settings.items()})


# -- one-shot commands ----------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str], command: list[str] = CLI) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asgi-oauth: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# -- long-running servers -------------------------------------------------------------------------


@dataclass
class Server:
    """A running server process: its URL, its process, and what it printed so far."""

    base_url: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def client_secret(self) -> str:
        """The demo client's secret, from the banner ``asgi-oauth serve`` prints."""
        return banner_value(self.stdout, "client_secret")

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/oauth"

    def workers(self) -> list[int]:
        """Process ids of the uvicorn workers: the serve process itself with one worker, else its
        ``multiprocessing`` children (not the resource tracker)."""
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and "spawn_main" in cmdline:
                children.append(int(entry.name))
        return sorted(children) or [self.proc.pid]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: uvicorn's workers too
        proc.wait(timeout=STOP_TIMEOUT)


def _wait_until_up(server: Server, what: str, ready_path: str, workers: int | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2) as http:
        while True:
            if server.proc.poll() is not None:
                pytest.fail(f"{what} exited with {server.proc.returncode}:\n{server.stderr}")
            try:
                if http.get(server.base_url + ready_path).status_code == 200 and (
                    workers is None or len(server.workers()) == workers
                ):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer within {START_TIMEOUT}s:\n{server.stderr}")
            time.sleep(0.1)


@contextmanager
def running(
    argv: list[str],
    env: Mapping[str, str],
    port: int,
    logs: Path,
    *,
    ready_path: str = "/",
    workers: int | None = None,
) -> Iterator[Server]:
    """Start ``argv`` (which listens on ``port``) in the repository root, wait until ``ready_path`` answers
    200 and, if ``workers`` is given, that many workers run; always stop it afterwards.

    Its output goes to ``stdout.txt`` and ``stderr.txt`` in ``logs``.
    """
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
            server = Server(f"http://127.0.0.1:{port}", proc, out, err)
            _wait_until_up(server, shlex.join(argv), ready_path, workers)
            yield server
        finally:
            _stop(proc)


@contextmanager
def serving(
    logs: Path, env: Mapping[str, str], *args: str, workers: int | None = None, command: list[str] = CLI
) -> Iterator[Server]:
    """Run ``asgi-oauth serve [args]`` on a free loopback port until ``/`` answers; always stop it afterwards.

    With ``workers`` it runs that many uvicorn workers, and is ready once all of them are up. ``command`` is
    how the program is started (a path is relative to the repository root).
    """
    port = free_port()
    argv = [*command, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if workers is not None:
        argv += ["--workers", str(workers)]
    with running(argv, env, port, logs, workers=workers) as server:
        yield server


# -- what they print ------------------------------------------------------------------------------


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


# -- the examples ---------------------------------------------------------------------------------


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by path, as ``python examples/<name>.py`` would (minus uvicorn)."""
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_doc(name: str) -> str:
    """The docstring of ``examples/<name>.py``, read without running the example."""
    doc = ast.get_docstring(ast.parse((ROOT / "examples" / f"{name}.py").read_text()), clean=True)
    assert doc is not None, name
    return doc


def literal_blocks(doc: str) -> list[str]:
    """The reST literal blocks of a docstring (the indented lines after a paragraph ending in ``::``), dedented."""
    blocks, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if not line.endswith("::"):
            continue
        body = list(itertools.takewhile(lambda s: not s or s.startswith(" "), lines[i + 2 :]))
        while body and not body[-1]:
            body.pop()
        blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


def installed_commands(script: str) -> str:
    """``script`` (a README or docstring command) with the quick start's ``.venv/bin/`` programs replaced by
    those of the environment running the tests, where this package is installed."""
    bin_dir = Path(sys.executable).parent
    cli = shutil.which("asgi-oauth", path=str(bin_dir))
    cli_command = shlex.quote(cli) if cli is not None else f"{shlex.quote(sys.executable)} -m asgi_oauth.cli"
    script = script.replace(".venv/bin/asgi-oauth", cli_command)
    return script.replace(".venv/bin/python", shlex.quote(sys.executable))


def run_shell(script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as pasted into bash, stopping at the first failing command (pipes included)."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", installed_commands(script)],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def http_statuses(output: str) -> list[int]:
    """The status codes of the responses ``curl -i`` printed, in order."""
    return [int(code) for code in re.findall(r"HTTP/[\d.]+ (\d{3}) ", output)]


# -- a browser --------------------------------------------------------------------------------------


def chromium(tmp_path: Path) -> WebDriver:
    """Headless Debian Chromium through chromedriver, with a throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        pytest.fail(
            "this test drives Debian's Chromium: apt-get install chromium chromium-driver "
            "(the nox tests session does it when run as root)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


# -- a person at the demo's pages ---------------------------------------------------------------------------


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of an HTML form (the sign-in and consent pages carry the request in them)."""
    return {k: html.unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def demo_sign_in(
    server: Server, query: Mapping[str, str], *, username: str = "alice", password: str = "wonderland"
) -> str:
    """A person signing in and consenting, in a browser, on ``asgi-oauth serve``'s demo pages (``DEMO_USERS``) for
    the authorization request ``query``: the URL the browser is sent back to, with the code."""
    authorize = f"{server.issuer}/authorize?{urlencode(query)}"
    with httpx.Client(timeout=10) as browser:
        to_login = browser.get(authorize)
        assert to_login.status_code == 302, to_login.text
        login_url = urljoin(authorize, to_login.headers["location"])
        fields = hidden_fields(browser.get(login_url).text) | {"username": username, "password": password}
        signed_in = browser.post(urljoin(login_url, urlsplit(login_url).path), data=fields)
        assert signed_in.status_code == 303, signed_in.text
        consent = browser.get(urljoin(login_url, signed_in.headers["location"]))
        assert consent.status_code == 200, consent.text
        fields = hidden_fields(consent.text) | {"decision": "allow"}
        approved = browser.post(f"{server.issuer}/authorize", data=fields)
        assert approved.status_code == 303, approved.text
        callback: str = approved.headers["location"]
    assert callback.startswith(query["redirect_uri"]) and "code=" in callback, callback
    return callback
