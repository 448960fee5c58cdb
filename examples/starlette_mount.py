"""Mount the authorization server into a plain Starlette app, with one client declared in code.

Run it from a clone (after ``pip install .``)::

    python examples/starlette_mount.py

then, in another shell, get a token and look at the server's metadata::

    curl -s -u reporting-job:example-secret-change-me -d grant_type=client_credentials -d scope=read \\
        http://127.0.0.1:8000/oauth/token
    curl -s http://127.0.0.1:8000/oauth/.well-known/oauth-authorization-server

The memory store keeps tokens in this process only; set ``ASGI_OAUTH_REDIS_URL`` (and pass
``store_from_settings(settings)`` instead) to share them between workers. Set ``EXAMPLE_CLIENT_SECRET``
to choose the client's secret, and ``ASGI_OAUTH_SECRET_KEY`` for anything but a try-out.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from asgi_oauth import MemoryStore, OAuthServer, load_settings, new_client

CLIENT_ID = "reporting-job"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "example-secret-change-me")

# Settings come from ASGI_OAUTH_* variables; what is passed here wins. Invalid values raise SettingsError.
settings = load_settings(issuer="http://127.0.0.1:8000/oauth")

# A client kept in application configuration rather than registered in the store. A secret chosen by a
# person may be guessable, so new_client stores it with scrypt; generated secrets get plain SHA-256.
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


app = Starlette(routes=[Route("/", home), Mount("/oauth", app=oauth)], lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
