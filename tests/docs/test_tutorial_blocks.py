"""Each tutorial's install command, run as printed in a fresh copy of the clone, installs everything that page's
code imports (tests/test_examples.py checks that every runnable block of every page is run by a test)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ..serving import ROOT, clean_env
from .pages import RUNNABLE, TUTORIALS, blocks, code, sections

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
@pytest.mark.parametrize("page", sorted(path.stem for path in TUTORIALS.glob("*.md")))
def test_install_commands(page: str, tmp_path: Path, pip_cache: Path) -> None:
    """The page's install block, run as printed (bash, from the clone's root) with pip held to the tested versions
    (``PIP_CONSTRAINT``); then every import of the page's code works in that virtualenv, from outside the clone, and
    the programs the page runs from ``.venv/bin/`` are there."""
    title = next(h for h, _ in sections((TUTORIALS / f"{page}.md").read_text()) if h.endswith(": install"))
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
