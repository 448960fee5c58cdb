"""The examples and the README's quick start keep working: they are what newcomers copy."""

from __future__ import annotations

import re

import httpx

from .serving import ROOT, load_example


async def test_starlette_mount_example_issues_a_token() -> None:
    example = load_example("starlette_mount")
    transport = httpx.ASGITransport(app=example.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        assert (await http.get("/")).status_code == 200
        response = await http.post(
            "/oauth/token",
            auth=(example.CLIENT_ID, example.CLIENT_SECRET),
            data={"grant_type": "client_credentials", "scope": "read"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer" and body["scope"] == "read" and body["access_token"]

        wrong = await http.post(
            "/oauth/token",
            auth=(example.CLIENT_ID, "not-the-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert wrong.status_code == 401
        meta = await http.get("/oauth/.well-known/oauth-authorization-server")
        assert meta.json()["issuer"] == "http://127.0.0.1:8000/oauth"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """The quick start has exactly two commands, and .ci/run ends with the second one, character for character."""
    readme = (ROOT / "README.md").read_text()
    # From the heading to the next heading of any level ("What to try next" is not part of the set-up).
    quick_start = re.split(r"\n#{1,6} ", readme.split("\n## Quick start\n", 1)[1], maxsplit=1)[0]
    commands = re.findall(r"```(?:sh|bash|console)?\n(.*?)\n```", quick_start, re.DOTALL)
    assert len(commands) == 2, commands
    serve_command, test_command = (c.strip() for c in commands)
    assert "\n" not in serve_command and "\n" not in test_command
    assert serve_command.endswith("asgi-oauth serve")
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci_lines[-1] == test_command
