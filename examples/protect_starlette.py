r"""Protect a plain Starlette app's own routes with path rules, the authorization server mounted beside them.

Run it from the clone, with the virtualenv of the README's quick start (port 8001 by default, so it
runs beside the demo on 8000; ``--port`` picks another)::

    .venv/bin/python examples/protect_starlette.py --port 8001

then, in another shell::

    # anyone may read the home page; /api needs a token
    curl -s http://127.0.0.1:8001/
    curl -si http://127.0.0.1:8001/api/notes          # 401, WWW-Authenticate: Bearer realm="notes"

    # a token with notes.read may list the notes but not add one
    TOKEN=$(curl -s -u notes-cli:notes-secret-change-me -d grant_type=client_credentials -d scope=notes.read \
        http://127.0.0.1:8001/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/api/notes
    curl -si -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"text": "hi"}' \
        http://127.0.0.1:8001/api/notes                # 403: this token lacks notes.write

    # a token with both scopes may
    WRITER=$(curl -s -u notes-cli:notes-secret-change-me -d grant_type=client_credentials \
        -d 'scope=notes.read notes.write' http://127.0.0.1:8001/oauth/token \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -si -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' -d '{"text": "hi"}' \
        http://127.0.0.1:8001/api/notes                # 201

    # revoking a token takes effect on the very next request
    curl -s -u notes-cli:notes-secret-change-me -d "token=$WRITER" http://127.0.0.1:8001/oauth/revoke
    curl -si -H "Authorization: Bearer $WRITER" http://127.0.0.1:8001/api/notes   # 401, error="invalid_token"

The rules: every method under ``/api`` needs ``notes.read``, and ``POST /api/notes`` also needs
``notes.write``; the first rule that matches a request wins, so the narrower one comes first. Paths
no rule covers (``/`` and ``/oauth/...`` here) pass through untouched, without a store lookup.

Tokens live in the memory store of this one process; set ``EXAMPLE_CLIENT_SECRET`` to choose the
client's secret and ``ASGI_OAUTH_SECRET_KEY`` for anything but a try-out.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from asgi_oauth import (
    BearerTokenMiddleware,
    LocalValidator,
    MemoryStore,
    OAuthServer,
    load_settings,
    new_client,
    protect,
)

CLIENT_ID = "notes-cli"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "notes-secret-change-me")
REALM = "notes"

# The port is part of the issuer, so it is read before anything is built; imported (as the tests do), defaults.
_options = argparse.ArgumentParser(description="Run the protected Starlette example.")
_options.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default: %(default)s)")
PORT: int = (_options.parse_args() if __name__ == "__main__" else _options.parse_args([])).port

settings = load_settings(issuer=f"http://127.0.0.1:{PORT}/oauth", realm=REALM)
store = MemoryStore()
client, _ = new_client(
    name="Notes command-line tool",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    grant_types=["client_credentials"],
    scope="notes.read notes.write",
)
oauth = OAuthServer(settings, store=store, clients=[client])

#: Notes kept in memory, like the tokens.
NOTES: list[dict[str, str]] = [{"text": "the first note", "by": "the example"}]


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Public page. The notes API is under /api, the authorization server under /oauth.\n")


async def list_notes(request: Request) -> JSONResponse:
    # The middleware has validated the token before this runs, and left what it found in request.state.
    token = request.state.token
    return JSONResponse({"notes": NOTES, "client_id": token.client_id, "scopes": sorted(request.state.scopes)})


async def add_note(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return JSONResponse({"error": 'send JSON like {"text": "..."}'}, status_code=400)
    note = {"text": text.strip(), "by": request.user.identity}
    NOTES.append(note)
    return JSONResponse(note, status_code=201)


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "scopes": sorted(request.auth.scopes)})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Lifespan events pass through the middleware; a mounted OAuthServer gets none, so the host closes its store.
    yield
    await oauth.aclose()


RULES = [
    protect("/api/notes", "notes.read", "notes.write", methods=["POST"]),
    protect("/api", "notes.read"),
]

app = Starlette(
    routes=[
        Route("/", home),
        Route("/api/notes", list_notes, methods=["GET"]),
        Route("/api/notes", add_note, methods=["POST"]),
        Route("/api/whoami", whoami),
        Mount("/oauth", app=oauth),
    ],
    middleware=[Middleware(BearerTokenMiddleware, validator=LocalValidator(store), rules=RULES, realm=REALM)],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
