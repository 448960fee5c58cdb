"""docs/tutorials/fastapi.md followed as written: the page's app files saved as printed and started with the page's
uvicorn command on Redis, the client registered with the page's CLI command, and the page's curl commands run
in one shell, each answering what the page shows."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from ..serving import free_port, run_shell
from .pages import PAGE_REDIS, app_env, code, ports, section, serving_block, shell_steps, write_file

PAGE = "tutorials/fastapi"


def step(title: str) -> str:
    (block,) = code(PAGE, title, "sh")
    return block


def shown(title: str, language: str) -> str:
    """The output the page shows under ``title`` (a fragment, not run)."""
    (block,) = code(PAGE, title, language)
    return block


def assert_refused_as_shown(output: str) -> None:
    """``curl -si`` printed the 401 the page shows: each line it shows (but ``...``) is a line of the answer."""
    lines = [line.rstrip("\r").lower() for line in output.splitlines()]
    for line in shown("FastAPI tutorial: call it without a token", "text").splitlines():
        if line and line != "...":
            assert line.lower() in lines, (line, output)


def test_the_fastapi_and_starlette_apps_as_the_page_runs_them(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    (app,) = code(PAGE, "FastAPI tutorial: the app", "python")
    (starlette_app,) = code(PAGE, "FastAPI tutorial: the same app with Starlette", "python")
    app_dir = tmp_path / "clone"
    write_file(app_dir, "app.py", app)
    write_file(app_dir, "starlette_app.py", starlette_app)
    env = app_env(app_dir, ASGI_OAUTH_KEY_PREFIX=key_prefix)
    port = free_port()
    moved = {8000: port}
    token_step, revoke_step = code(PAGE, "FastAPI tutorial: get a token and call it", "sh")
    expected = json.loads(shown("FastAPI tutorial: get a token and call it", "json"))

    with serving_block(step("FastAPI tutorial: run it"), env, port, tmp_path / "fastapi", redis_url=redis_url):
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200  # no rule covers it
        steps = [
            step("FastAPI tutorial: register a client"),
            step("FastAPI tutorial: call it without a token"),
            token_step,
            revoke_step,
            'echo "$CLIENT_SECRET"',  # the test's own line: the Starlette part reuses the secret, as the page says
        ]
        registered, refused, called, revoked, secret = shell_steps(steps, env, moved, redis_url=redis_url)
    assert registered == ""
    assert_refused_as_shown(refused)
    assert json.loads(called) == expected
    assert revoked == "401\n"  # the page: "The second command prints 401"
    # "Running it a second time fails with `asgi-oauth: error: ...` (the client exists)".
    again = run_shell(ports(step("FastAPI tutorial: register a client"), moved).replace(PAGE_REDIS, redis_url), env)
    assert again.returncode != 0 and "asgi-oauth: error: " in again.stderr

    (starlette_run,) = code(PAGE, "FastAPI tutorial: the same app with Starlette", "sh")
    with serving_block(
        starlette_run, env, port, tmp_path / "starlette", redis_url=redis_url, ready_path="/oauth/health/live"
    ):
        env_secret = {**env, "CLIENT_SECRET": secret.strip()}
        steps = [step("FastAPI tutorial: call it without a token"), token_step]
        refused, called = shell_steps(steps, env_secret, moved, redis_url=redis_url)
    assert_refused_as_shown(refused)
    assert json.loads(called) == expected


def test_the_page_says_what_it_runs() -> None:
    """The prose's promises that the test above checks by their literal values."""
    text = section(PAGE, "FastAPI tutorial: get a token and call it")
    assert "The second command prints `401`." in text
