r"""Mount the authorization server into a plain Starlette app, with one client declared in code.

Run it from the clone, with the virtualenv of the README's quick start (port 8001 by default, so it
runs beside the demo on 8000; ``--port`` picks another)::

    .venv/bin/python examples/starlette_mount.py --port 8001

then, in another shell, get a token and look at the server's metadata::

    curl -s -u reporting-job:example-secret-change-me -d grant_type=client_credentials -d scope=read \
        http://127.0.0.1:8001/oauth/token
    curl -s http://127.0.0.1:8001/oauth/.well-known/oauth-authorization-server
    curl -s http://127.0.0.1:8001/.well-known/oauth-authorization-server/oauth

The last URL is the metadata's RFC 8414 location for the issuer ``http://127.0.0.1:8001/oauth``: the
host app publishes it (``discovery_routes``), since the mounted server only answers under ``/oauth``.

The memory store keeps tokens in this process only; set ``ASGI_OAUTH_REDIS_URL`` (and pass
``store_from_settings(settings)`` instead) to share them between workers. Set ``EXAMPLE_CLIENT_SECRET``
to choose the client's secret, and ``ASGI_OAUTH_SECRET_KEY`` for anything but a try-out.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from asgi_oauth import MemoryStore, OAuthServer, discovery_routes, load_settings, new_client

CLIENT_ID = "reporting-job"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "example-secret-change-me")

# The port is part of the issuer, so it is read before anything is built; imported (as the tests do), defaults.
_options = argparse.ArgumentParser(description="Run the Starlette mount example.")
_options.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default: %(default)s)")
PORT: int = (_options.parse_args() if __name__ == "__main__" else _options.parse_args([])).port

# Settings come from ASGI_OAUTH_* variables; what is passed here wins. Invalid values raise SettingsError.
settings = load_settings(issuer=f"http://127.0.0.1:{PORT}/oauth")

# A client kept in application configuration rather than registered in the store. A secret chosen by a
# person may be guessable, so new_client stores it with scrypt; generated secrets (256 random bits) only
# need a fast digest, HMAC-SHA-256 keyed per purpose ("Tokens and what is stored" in the documentation).
client, _ = new_client(
    name="Nightly reporting job",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    grant_types=["client_credentials"],
    scope="read write",
)

oauth = OAuthServer(settings, store=MemoryStore(), clients=[client])


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("The authorization server lives under /oauth.\n")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # A mounted app gets no lifespan events of its own: the host closes the server's store.
    yield
    await oauth.aclose()


app = Starlette(
    routes=[
        Route("/", home),
        # RFC 8414 section 3: the metadata of issuer https://host/oauth lives at
        # https://host/.well-known/oauth-authorization-server/oauth, outside the mount (and MCP clients also
        # try /.well-known/openid-configuration/oauth): these routes serve both.
        *discovery_routes(oauth),
        Mount("/oauth", app=oauth),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
