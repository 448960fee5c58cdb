"""Developer tasks: ``nox`` runs lint, typecheck and tests; ``nox -s bench`` runs the benchmarks, ``nox -s docs``
builds the documentation site.

Each session gets its own virtualenv with the interpreter running nox (Python 3.11+), so the same
commands work on a laptop, a fresh machine and CI.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"

SOURCES = ["asgi_oauth", "tests", "examples", "benchmarks", "docs/hooks", "noxfile.py"]

#: The exact versions every session installs: what the suite last passed with. Refreshed on purpose with
#: ``nox -s lock`` (then run the suite and commit both), never by a release elsewhere.
CONSTRAINTS = Path(__file__).parent / "constraints.txt"
#: Everything the sessions install, so the lock covers each of them.
EVERYTHING = [
    ".[dev,hiredis,remote,mcp,fastmcp,oidc,metrics]",
    "-r",
    "benchmarks/requirements.txt",
    "-r",
    "docs/requirements.txt",
]


def install(session: nox.Session, *requirements: str) -> None:
    """Every session installs through here, at the versions in ``constraints.txt``."""
    session.install("--disable-pip-version-check", "-c", str(CONSTRAINTS), *requirements)


#: Programs the suite runs, and the Debian packages that provide them. curl runs the README's commands; npm
#: installs Node 22 and the MCP conformance suite from the npm registry (tests/mcp); valgrind counts Redis's
#: instructions for ``benchmarks.script_cost`` and a uvicorn worker's for ``benchmarks.instructions``
#: (tests/test_script_cost.py, tests/test_instructions.py).
SYSTEM_NEEDS = {
    "redis-server": "redis-server",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "curl": "curl",
    "npm": "npm",
    "valgrind": "valgrind",
}
#: What ``nox -s bench`` runs: a private Redis, wrk as the load generator, taskset to pin it and the servers to
#: CPUs, and npm for Node 22 and node-oidc-provider (benchmarks/node).
BENCH_NEEDS = {"redis-server": "redis-server", "wrk": "wrk", "taskset": "util-linux", "npm": "npm"}
#: What ``nox -s docs`` runs: npm, which installs Mermaid (the diagrams) from the npm registry into docs/npm/.
DOCS_NEEDS = {"npm": "npm"}


def ensure_system_programs(session: nox.Session, needs: dict[str, str] = SYSTEM_NEEDS) -> None:
    """The programs a session runs (the tests: private redis-servers, Chromium...); get them with apt-get or say
    exactly what is missing."""
    needed = {program: package for program, package in needs.items() if not shutil.which(program)}
    tests = needs is SYSTEM_NEEDS
    if tests and os.environ.get("ASGI_OAUTH_TEST_REDIS_URL"):
        needed.pop("redis-server", None)
    if not needed:
        return
    packages = sorted(set(needed.values()))
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        session.log(f"installing {', '.join(packages)} with apt-get ({', '.join(needed)} not on PATH)")
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=apt_env)
        session.run("apt-get", "install", "-y", "-qq", *packages, external=True, env=apt_env)
        if all(shutil.which(program) for program in needed):
            return
    shared_redis = "; for Redis you may instead set ASGI_OAUTH_TEST_REDIS_URL to a Redis the tests may flush"
    session.error(
        f"nox -s {session.name} needs {', '.join(needed)} on PATH. Install them (Debian/Ubuntu: sudo apt-get install "
        f"{' '.join(packages)}){shared_redis if tests else ''}."
    )


@nox.session(reuse_venv=False)
def lock(session: nox.Session) -> None:
    """Re-resolve every dependency to its newest release and write ``constraints.txt``; then run ``nox`` and commit."""
    session.install("--disable-pip-version-check", *EVERYTHING, "nox")
    frozen = session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=True)
    assert isinstance(frozen, str)
    # (The project itself is frozen as "asgi-oauth @ file://...", without "==": each session installs the checkout.)
    pins = sorted((line for line in frozen.splitlines() if "==" in line), key=str.lower)
    header = [
        "# Exact versions the tests, CI and the other nox sessions install (pip install -c constraints.txt).",
        f"# Written by `nox -s lock` on {date.today().isoformat()} with Python {sys.version.split()[0]}; refresh on",
        "# purpose (nox -s lock, then nox), not by accident. asgi-oauth's own ranges are in pyproject.toml.",
    ]
    CONSTRAINTS.write_text("\n".join([*header, *pins]) + "\n")
    session.log(f"wrote {len(pins)} pins to {CONSTRAINTS.name}")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite against real Redis servers; extra arguments go to pytest."""
    install(session, "-e", ".[test]")
    ensure_system_programs(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    install(session, "-e", ".[dev]")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict as configured in pyproject.toml ([tool.mypy] packages = asgi_oauth), then the docs' hooks
    (with MkDocs and griffe installed, whose types they use)."""
    install(session, "-e", ".[dev]", "-r", "docs/requirements.txt")
    session.run("mypy")
    session.run("mypy", "docs/hooks")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against peer libraries; not part of the default sessions (slow, needs Redis)."""
    install(session, "-e", ".", "-r", "benchmarks/requirements.txt")
    ensure_system_programs(session, BENCH_NEEDS)
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, in strict mode: a broken link, a page missing from the navigation, a setting
    without its comment or a public name without a docstring fails it. Built into ``site/``, offline: Mermaid,
    the one asset from elsewhere, is installed from the npm registry at its locked version and served by the
    site itself. ``nox -s docs -- serve`` previews it instead (extra arguments go to ``mkdocs``)."""
    install(session, "-r", "docs/requirements.txt", "-e", ".[oidc,remote,mcp,fastmcp,metrics,assertions,dpop]")
    ensure_system_programs(session, DOCS_NEEDS)
    sys.path.insert(0, str(Path(__file__).parent / "docs" / "hooks"))
    import mermaid_tree  # standard library only: the hooks beside it import MkDocs, which nox's own env lacks

    try:
        session.log(f"Mermaid for the diagrams: {mermaid_tree.bundle()}")
    except mermaid_tree.NpmUnavailable as exc:
        session.error(str(exc))
    # (MkDocs' banner about its next major version says nothing about this site.)
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", *(session.posargs or ["build", "--strict", "--site-dir", "site"]), env=quiet)


@nox.session
def soak(session: nox.Session) -> None:
    """60 s of mixed traffic on `asgi-oauth serve --workers 2` with Redis: zero 5xx, no lost token, flat RSS.

    Not in the default sessions. Arguments go to the driver, e.g. ``nox -s soak -- --duration 120``.
    """
    install(session, "-e", ".[test]")
    if not shutil.which("redis-server"):
        session.error("the soak needs redis-server on PATH (Debian/Ubuntu: sudo apt-get install redis-server)")
    session.run("python", "-m", "tests.reliability.soak", *session.posargs)
