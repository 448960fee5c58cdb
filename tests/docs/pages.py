"""Reading the documentation pages' code blocks, and running them as a reader would.

A page's blocks are found by the heading above them (headings are unique across the README and every page
under ``docs/``). Shell blocks run in bash as printed, with only ports changed (the server's, and Redis's
for the test's own Redis); a block that starts a server (``export`` lines, then one long-running command)
has its ``export`` lines run by bash too and its command started as a process of its own, so the test can
stop it. Python blocks that are files are written out as printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..serving import CLI, DOC_PAGES, ROOT, Server, clean_env, installed_commands, run_shell, running

DOCS = ROOT / "docs"
TUTORIALS = DOCS / "tutorials"
#: Every page a reader sees, by path: the README and the documentation site's pages.
DOC_TEXTS = {path: path.read_text() for path in DOC_PAGES}
#: The languages of blocks a test must run; any other language marks a fragment, shown but not run.
RUNNABLE = ("sh", "bash", "python")
FRAGMENTS = ("text", "console", "json", "toml", "http", "ini", "yaml", "py", "mermaid")
#: The Redis the pages name, which the tests point at their own (a different port only).
PAGE_REDIS = "redis://127.0.0.1:6379/0"

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


def page(name: str) -> str:
    """The text of ``docs/<name>.md``, without its fenced blocks' insides mistaken for headings."""
    return (DOCS / f"{name}.md").read_text()


def sections(text: str) -> list[tuple[str, str]]:
    """Each heading of a Markdown page (any level) with its body, up to the next heading of any level.

    A line in a fenced block is never a heading, even when it starts with ``#`` (a shell or Python comment).
    """
    found: list[tuple[str, list[str]]] = []
    fenced_block = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced_block = not fenced_block
        elif not fenced_block and (heading := re.match(r"#+ (.+)$", line)):
            found.append((heading.group(1).strip(), []))
            continue
        if found:
            found[-1][1].append(line)
    return [(heading, "\n".join(lines)) for heading, lines in found]


def doc_section(title: str) -> str:
    """The section headed ``title`` (any level), wherever it is: README.md or a page under docs/.

    Tests name a section by its heading, so a heading is one section in all of them together.
    """
    found = [body for text in DOC_TEXTS.values() for heading, body in sections(text) if heading == title]
    assert len(found) == 1, f"{title!r} heads {len(found)} sections in README.md and docs/"
    return found[0]


def section(name: str, title: str) -> str:
    """The body of the section ``title`` of ``docs/<name>.md``, up to the next heading of any level."""
    matches = [body for heading, body in sections(page(name)) if heading == title]
    assert len(matches) == 1, f"{title!r} in docs/{name}.md: {len(matches)} sections"
    return matches[0]


def blocks(text: str, *languages: str) -> list[str]:
    """The fenced blocks of ``text`` in one of ``languages`` (all, if none given), in order."""
    return [body for lang, body in _FENCE.findall(text) if not languages or lang in languages]


def code(name: str, title: str, *languages: str) -> list[str]:
    return blocks(section(name, title), *languages)


def ports(text: str, moved: Mapping[int, int]) -> str:
    """``text`` with each ``127.0.0.1:<port>`` and ``localhost:<port>`` of ``moved`` at its new port."""
    for old, new in moved.items():
        text = re.sub(rf"(127\.0\.0\.1|localhost):{old}(?!\d)", rf"\g<1>:{new}", text)
    return text


def shell(script: str, env: Mapping[str, str], moved: Mapping[int, int]) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash as pasted (``set -euo pipefail``), its ports moved; fail loudly if it fails."""
    result = run_shell(ports(script, moved), env)
    assert result.returncode == 0, f"{script}\n--- stdout:\n{result.stdout}\n--- stderr:\n{result.stderr}"
    return result


MARK = "-----8<-----"


def shell_steps(
    steps: list[str], env: Mapping[str, str], moved: Mapping[int, int], *, redis_url: str | None = None
) -> list[str]:
    """Run ``steps`` one after another in one shell (as a reader pastes them into one terminal); the output
    of each. Only a marker line is added between them, to tell their outputs apart."""
    script = f"\necho '{MARK}'\n".join(steps)
    if redis_url is not None:
        script = script.replace(PAGE_REDIS, redis_url)
    return shell(script, env, moved).stdout.split(f"{MARK}\n")


def server_argv(block: str, port: int) -> tuple[list[str], list[str]]:
    """A server block's ``export`` lines and its command, the command as argv with ``--port`` at ``port`` and
    ``.venv/bin/`` programs pointed at the environment running the tests."""
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    *exports, command = lines
    assert all(line.startswith("export ") for line in exports), block
    argv = shlex.split(command)
    program = argv[0]
    if program == ".venv/bin/uvicorn":
        argv[:1] = [sys.executable, "-m", "uvicorn"]
    elif program == ".venv/bin/asgi-oauth":
        argv[:1] = CLI
    else:
        argv = shlex.split(installed_commands(command))
    argv[argv.index("--port") + 1] = str(port)
    return exports, argv


def exported(exports: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """``env`` after bash ran the ``export`` lines (values such as ``$(python3 -c ...)`` are bash's)."""
    script = installed_commands("\n".join([*exports, "env -0"]))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}


def exports_of(block: str) -> dict[str, str]:
    """The variables a block's ``export NAME=value`` lines set, as bash sets them (quotes, trailing comments and
    ``$(...)`` included), and only those."""
    lines = [line for line in block.splitlines() if line.startswith("export ")]
    values = exported(lines, clean_env())
    return {name: values[name] for name in (line.removeprefix("export ").split("=", 1)[0] for line in lines)}


@contextmanager
def serving_block(
    block: str,
    env: Mapping[str, str],
    port: int,
    logs: Path,
    *,
    redis_url: str | None = None,
    ready_path: str = "/",
    workers: int | None = None,
) -> Iterator[Server]:
    """Start the server a page's block starts (its exports run by bash, its Redis the test's), until ``ready_path``
    answers; always stop it afterwards."""
    if redis_url is not None:
        block = block.replace(PAGE_REDIS, redis_url)
    exports, argv = server_argv(block, port)
    with running(argv, exported(exports, env), port, logs, ready_path=ready_path, workers=workers) as server:
        yield server


def app_env(app_dir: Path, **variables: str) -> dict[str, str]:
    """The test's environment for a page's app file saved in ``app_dir`` (importable as the page's module), with
    this checkout's package first, as in the clone the page is followed in."""
    return clean_env(PYTHONPATH=os.pathsep.join([str(app_dir), str(ROOT)]), **variables)


def write_file(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text + "\n")
    return path
