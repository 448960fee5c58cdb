"""The documentation's DPoP section as written: its block mounted in a host app runs, and a client then gets a bound
token and calls the protected route with a proof, as the section says; its timing commands run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import MemoryStore, new_client, register_client
from asgi_oauth.dpop.proof import access_token_hash

from ..docs.pages import blocks, doc_section
from ..web.helpers import BASE_URL, basic, settings_for
from .proofs import ProofKey

SECTION = "Sender-constrained tokens (`dpop`, RFC 9449)"


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"client_id": request.state.token.client_id})


async def test_the_dpop_section_runs_as_written() -> None:
    (block,) = blocks(doc_section(SECTION), "python")
    store = MemoryStore()
    client, secret = new_client(name="m2m", grant_types=["client_credentials"], scope="read")
    assert secret is not None
    await register_client(store, client)
    app = Starlette(routes=[Route("/api/me", me)])
    namespace = {"settings": settings_for(), "store": store, "app": app}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 (the README's own block)
    app.router.routes.append(Mount("/oauth", app=namespace["oauth"]))
    key = ProofKey.new("ES256")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={
                "Authorization": basic(client.client_id, secret),
                "DPoP": key.proof("POST", f"{BASE_URL}/oauth/token"),
            },
        )
        assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
        token = answer.json()["access_token"]
        proof = key.proof("GET", f"{BASE_URL}/api/me", ath=access_token_hash(token))
        called = await http.get("/api/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert called.status_code == 200 and called.json() == {"client_id": client.client_id}, called.text
        as_bearer = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")


def test_the_signature_timings_run_as_written() -> None:
    """The section's two ``python -m timeit`` commands (what one ES256 and one RS256 verification cost) run as
    written and print timeit's figure; the figures themselves are the machine's."""
    (block,) = blocks(doc_section(SECTION), "sh")
    commands = block.splitlines()
    assert len(commands) == 2 and all(command.startswith("python -m timeit ") for command in commands)
    for command in commands:
        words = shlex.split(command)  # python -m timeit -s SETUP STATEMENT, with few loops: a run, not a figure
        argv = [sys.executable, *words[1:3], "-n", "20", "-r", "1", *words[3:]]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(r"20 loops, best of 1: [\d.]+ (usec|msec) per loop\n", done.stdout), done.stdout
