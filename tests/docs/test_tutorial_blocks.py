"""Every runnable block of the tutorials and of the flows page is run by a test here, the headings they are found
by are unique across the README and every docs page, and each page's install command, run as printed in a fresh
copy of the clone, installs everything that page's code imports."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..serving import ROOT, clean_env
from .pages import DOCS, RUNNABLE, TUTORIALS, blocks, code, runnable_counts, sections

#: Per page, per heading: how many runnable blocks the test named beside it runs.
EXERCISED = {
    "fastapi": {  # test_fastapi_tutorial.py: every block, in one shell, on Redis
        "FastAPI tutorial: install": 1,  # test_install_commands below
        "FastAPI tutorial: the app": 1,
        "FastAPI tutorial: run it": 1,
        "FastAPI tutorial: register a client": 1,
        "FastAPI tutorial: call it without a token": 1,
        "FastAPI tutorial: get a token and call it": 2,
        "FastAPI tutorial: the same app with Starlette": 2,
    },
    "mcp": {  # test_mcp_tutorial.py: the server, and the SDK client the page prints
        "MCP tutorial: install": 1,
        "MCP tutorial: the server": 1,
        "MCP tutorial: run it": 1,
        "MCP tutorial: the client": 1,
        "MCP tutorial: sign in and call a tool": 1,
    },
    "openid-provider": {  # test_openid_tutorial.py: provider, registration, Authlib relying party
        "OpenID tutorial: install": 1,
        "OpenID tutorial: the provider": 2,
        "OpenID tutorial: register the wiki": 1,
        "OpenID tutorial: the wiki": 2,
    },
    "workers": {  # test_workers_tutorial.py: two workers; the Sentinel and Cluster blocks are `console` fragments
        "Workers tutorial: install": 1,
        "Workers tutorial: start two workers": 1,
        "Workers tutorial: a token through both workers": 2,
        "Workers tutorial: revoke it everywhere": 1,
    },
    "devices": {  # test_devices_tutorial.py: serve, registration, and the device's program
        "Devices tutorial: install": 1,
        "Devices tutorial: turn it on": 1,
        "Devices tutorial: register the tool": 1,
        "Devices tutorial: the tool": 1,
        "Devices tutorial: sign in": 1,
    },
}
FENCE_LINE = re.compile(r"^```(.*)$", re.MULTILINE)


def test_every_runnable_tutorial_block_is_exercised() -> None:
    found = {path.stem: runnable_counts(path.read_text()) for path in sorted(TUTORIALS.glob("*.md"))}
    assert found == EXERCISED


def test_the_flows_page_has_nothing_to_run() -> None:
    assert runnable_counts((DOCS / "flows.md").read_text()) == {}


@pytest.mark.parametrize("path", [*sorted(TUTORIALS.glob("*.md")), DOCS / "flows.md"], ids=lambda p: p.name)
def test_every_block_says_its_language(path: Path) -> None:
    """A bare fence would be neither run nor marked as a fragment; every opening fence names a language."""
    fences = FENCE_LINE.findall(path.read_text())
    openings = fences[0::2]
    assert len(fences) % 2 == 0
    assert all(re.fullmatch(r"[\w-]+", lang) for lang in openings), openings


def test_headings_are_unique_across_the_readme_and_every_page() -> None:
    """Tests find a section by its heading's text, in the README or any page: no two may share one."""
    seen: dict[str, list[str]] = {}
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for heading, _ in sections(path.read_text()):
            seen.setdefault(heading, []).append(str(path.relative_to(ROOT)))
    mine = {h for p in [*TUTORIALS.glob("*.md"), DOCS / "flows.md"] for h, _ in sections(p.read_text())}
    clashes = {h: where for h, where in seen.items() if len(where) > 1 and h in mine}
    assert clashes == {}


# -- the install commands, as a newcomer runs them --------------------------------------------------------


@pytest.fixture(scope="session")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache for the pages' installs, so each page's fresh virtualenv costs one download of a wheel."""
    return tmp_path_factory.mktemp("pip-cache")


def fresh_clone(where: Path) -> Path:
    """What a clone holds that ``pip install .`` reads: the package, its metadata and the constraints."""
    clone = where / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "asgi_oauth", clone / "asgi_oauth", ignore=shutil.ignore_patterns("__pycache__"))
    return clone


def imports_of(page: str) -> str:
    """Every import statement of the page's Python files, in one script."""
    statements = []
    for block in blocks((TUTORIALS / f"{page}.md").read_text(), "python"):
        for node in ast.parse(block).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                statements.append(ast.unparse(node))
    return "\n".join(statements)


PROGRAMS = {  # what the page's commands run from .venv/bin/
    "fastapi": ["uvicorn", "asgi-oauth"],
    "mcp": ["uvicorn", "python"],
    "openid-provider": ["uvicorn", "asgi-oauth"],
    "workers": ["asgi-oauth"],
    "devices": ["asgi-oauth", "python"],
}


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(EXERCISED))
def test_install_commands(page: str, tmp_path: Path, pip_cache: Path) -> None:
    """The page's install block, run as printed (bash, from the clone's root) with pip held to the tested versions
    (``PIP_CONSTRAINT``); then every import of the page's code works in that virtualenv, from outside the clone, and
    the programs the page runs from ``.venv/bin/`` are there."""
    title = next(h for h in EXERCISED[page] if h.endswith(": install"))
    (install,) = code(f"tutorials/{page}", title, *RUNNABLE)
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install "), install
    clone = fresh_clone(tmp_path)
    env = clean_env(PIP_CONSTRAINT=str(clone / "constraints.txt"), PIP_CACHE_DIR=str(pip_cache))
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.nox/" not in p)
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", install], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    venv = clone / ".venv" / "bin"
    for program in PROGRAMS[page]:
        assert (venv / program).exists(), program
    if "asgi-oauth" in PROGRAMS[page]:
        version = subprocess.run([str(venv / "asgi-oauth"), "--version"], capture_output=True, text=True, timeout=60)
        assert version.returncode == 0 and "0.1.0" in version.stdout, version
    checked = subprocess.run(
        [str(venv / "python"), "-c", imports_of(page)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
