"""Developer tasks: ``nox`` runs lint, typecheck and tests; ``nox -s bench`` runs the benchmarks.

Each session gets its own virtualenv with the interpreter running nox (Python 3.11+), so the same
commands work on a laptop, a fresh machine and CI.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"

SOURCES = ["asgi_oauth", "tests", "examples", "benchmarks", "noxfile.py"]


def install(session: nox.Session, *requirements: str) -> None:
    """Every session installs through here, so pip options change in one place."""
    session.install("--disable-pip-version-check", *requirements)


def ensure_redis_server(session: nox.Session) -> None:
    """The store tests start private redis-server processes; get the binary or say exactly what is missing."""
    if os.environ.get("ASGI_OAUTH_TEST_REDIS_URL") or shutil.which("redis-server"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        session.log("redis-server is not on PATH: installing it with apt-get")
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=apt_env)
        session.run("apt-get", "install", "-y", "-qq", "redis-server", external=True, env=apt_env)
        if shutil.which("redis-server"):
            return
    session.error(
        "the tests need redis-server on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-server; "
        "macOS: brew install redis), or set ASGI_OAUTH_TEST_REDIS_URL to a Redis the tests may flush."
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite against real Redis servers; extra arguments go to pytest."""
    install(session, "-e", ".[test]")
    ensure_redis_server(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    install(session, "-e", ".[dev]")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict as configured in pyproject.toml ([tool.mypy] packages = asgi_oauth)."""
    install(session, "-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against peer libraries; not part of the default sessions (slow, needs Redis)."""
    install(session, "-e", ".", "-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)
