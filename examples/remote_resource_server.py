r"""A resource server of its own: no Redis, tokens validated by the authorization server's /introspect.

From the clone, with the virtualenv of the README's quick start plus the ``remote`` extra (httpx), start
the demo authorization server and note the demo client's secret it prints::

    .venv/bin/pip install '.[remote]'
    .venv/bin/asgi-oauth serve            # http://127.0.0.1:8000, prints client_secret for demo-client

then, in another shell, run this app beside it (port 8001 by default; ``--port`` picks another) with
credentials it introspects with::

    export RESOURCE_CLIENT_SECRET=<the printed secret>
    .venv/bin/python examples/remote_resource_server.py --port 8001

and try it, in a third shell with the same ``RESOURCE_CLIENT_SECRET``::

    TOKEN=$(curl -s -u "demo-client:$RESOURCE_CLIENT_SECRET" -d grant_type=client_credentials -d scope=read \
        http://127.0.0.1:8000/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/api/whoami
    curl -si http://127.0.0.1:8001/api/whoami           # 401: no token
    curl -s http://127.0.0.1:8001/stats                  # introspection calls, cache hits, coalesced waits

Settings (environment variables):

``INTROSPECTION_URL``
    the authorization server's RFC 7662 endpoint (default ``http://127.0.0.1:8000/oauth/introspect``)
``RESOURCE_CLIENT_ID`` / ``RESOURCE_CLIENT_SECRET``
    the client this server authenticates as (default id ``demo-client``; the secret is required)
``REQUIRED_SCOPE``
    the scope ``/api`` needs (default ``read``)
``CACHE_MAX_TTL``
    seconds an introspection answer is reused (default 30)
``HOST`` / ``PORT``
    where to listen (default 127.0.0.1:8001); ``--port`` wins over ``PORT``

A client may introspect only its own tokens unless registered with ``introspect_any=True``; a real
resource server gets a client of its own made that way (``new_client(..., introspect_any=True)`` and
``register_client``), so that it accepts tokens issued to every client.

The revocation delay: answers are cached for at most ``CACHE_MAX_TTL`` seconds (never past the token's
``exp``), so a token revoked at the authorization server is still accepted here until its cached
answer expires. Lower ``CACHE_MAX_TTL`` for a shorter delay at the price of more introspection calls;
validate against the shared Redis (``LocalValidator``) when revocation must take effect at once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from asgi_oauth import BearerTokenMiddleware, RemoteValidator, protect

INTROSPECTION_URL = os.environ.get("INTROSPECTION_URL", "http://127.0.0.1:8000/oauth/introspect")
CLIENT_ID = os.environ.get("RESOURCE_CLIENT_ID", "demo-client")
CLIENT_SECRET = os.environ.get("RESOURCE_CLIENT_SECRET", "")
REQUIRED_SCOPE = os.environ.get("REQUIRED_SCOPE", "read")
CACHE_MAX_TTL = float(os.environ.get("CACHE_MAX_TTL", "30"))
HOST = os.environ.get("HOST", "127.0.0.1")

_options = argparse.ArgumentParser(description="Run the remote resource server example.")
_options.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8001")), help="default: %(default)s")
PORT: int = (_options.parse_args() if __name__ == "__main__" else _options.parse_args([])).port

if not CLIENT_SECRET:
    raise SystemExit("set RESOURCE_CLIENT_SECRET (and RESOURCE_CLIENT_ID) to the credentials to introspect with")

validator = RemoteValidator(INTROSPECTION_URL, CLIENT_ID, CLIENT_SECRET, max_ttl=CACHE_MAX_TTL)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"A resource server. /api needs a bearer token with scope {REQUIRED_SCOPE!r}.\n")


async def whoami(request: Request) -> JSONResponse:
    token = request.state.token
    return JSONResponse(
        {"sub": token.sub, "client_id": token.client_id, "scopes": sorted(request.state.scopes), "exp": token.exp}
    )


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(asdict(validator.stats))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await validator.aclose()  # the kept-alive HTTP client to the authorization server


app = Starlette(
    routes=[Route("/", home), Route("/api/whoami", whoami), Route("/stats", stats)],
    middleware=[Middleware(BearerTokenMiddleware, validator=validator, rules=[protect("/api", REQUIRED_SCOPE)])],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(app, host=HOST, port=PORT)
