r"""A FastAPI app: the authorization server mounted at /oauth, its own endpoints protected by bearer tokens.

Three ways to protect an endpoint are shown:

* a path rule given to the middleware (``GET /items`` needs ``items.read``);
* a FastAPI dependency, :func:`require_scopes`, for endpoints with typed parameters (``POST /items``
  also needs ``items.write``); it asks the middleware (:func:`~asgi_oauth.middleware.bearer_refusal`),
  so its 401 and 403 answers are the middleware's own RFC 6750 ones;
* the library's ``@requires_scopes`` decorator on an endpoint taking only ``request`` (``GET /me``),
  which validates on demand on a path no rule covers.

Run it from the clone, with the virtualenv of the README's quick start plus FastAPI (port 8001 by
default, so it runs beside the demo on 8000; ``--port`` picks another)::

    .venv/bin/pip install fastapi
    .venv/bin/python examples/fastapi_app.py --port 8001

then, in another shell::

    curl -si http://127.0.0.1:8001/items                      # 401: no token
    TOKEN=$(curl -s -u inventory:inventory-secret-change-me -d grant_type=client_credentials \
        -d scope=items.read http://127.0.0.1:8001/oauth/token \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/items
    curl -si -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{"name": "lamp"}' http://127.0.0.1:8001/items     # 403: items.write is missing
    curl -si -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/me   # 403: profile is missing

Ask for ``-d 'scope=items.read items.write profile'`` to be allowed everything. The interactive docs at
http://127.0.0.1:8001/docs are public: no rule covers them. Set ``ASGI_OAUTH_REDIS_URL`` to keep
clients and tokens in Redis instead of this process's memory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from asgi_oauth import (
    AccessToken,
    BearerTokenMiddleware,
    LocalValidator,
    OAuthServer,
    bearer_refusal,
    load_settings,
    new_client,
    protect,
    requires_scopes,
    store_from_settings,
)

CLIENT_ID = "inventory"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "inventory-secret-change-me")
REALM = "inventory"

# The port is part of the issuer, so it is read before anything is built; imported (as the tests do), defaults.
_options = argparse.ArgumentParser(description="Run the FastAPI example.")
_options.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default: %(default)s)")
PORT: int = (_options.parse_args() if __name__ == "__main__" else _options.parse_args([])).port

settings = load_settings(issuer=f"http://127.0.0.1:{PORT}/oauth", realm=REALM)
store = store_from_settings(settings)  # memory unless ASGI_OAUTH_REDIS_URL is set
client, _ = new_client(
    name="Inventory service",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    grant_types=["client_credentials"],
    scope="items.read items.write profile",
)
oauth = OAuthServer(settings, store=store, clients=[client])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await oauth.aclose()  # a mounted app gets no lifespan events: the host closes the store


app = FastAPI(title="Inventory", lifespan=lifespan)
app.add_middleware(
    BearerTokenMiddleware, validator=LocalValidator(store), rules=[protect("/items", "items.read")], realm=REALM
)
app.mount("/oauth", oauth)


# -- a dependency for FastAPI endpoints -----------------------------------------------------------


class Refused(Exception):
    """Carries the middleware's answer out of a dependency, which cannot return a response itself."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@app.exception_handler(Refused)
async def send_refusal(request: Request, exc: Refused) -> Response:
    return exc.response


def require_scopes(*needed: str) -> Callable[[Request], Awaitable[AccessToken]]:
    """A dependency: the validated token, or the middleware's own 401/403 (with its ``WWW-Authenticate``
    challenge) unless the request carries a valid token with every scope in ``needed``."""

    async def dependency(request: Request) -> AccessToken:
        refusal = await bearer_refusal(request, *needed)
        if refusal is not None:
            raise Refused(refusal)
        token: AccessToken = request.state.token
        return token

    return dependency


#: Just a valid token: on a path a rule covers the middleware has checked it already; elsewhere it is
#: validated here, so an endpoint using it never runs unauthenticated.
current_token = require_scopes()


# -- the API --------------------------------------------------------------------------------------


class NewItem(BaseModel):
    name: str = Field(min_length=1, max_length=100)


ITEMS: list[dict[str, Any]] = [{"id": 1, "name": "desk", "added_by": "the example"}]


@app.get("/items")
async def list_items(token: Annotated[AccessToken, Depends(current_token)]) -> dict[str, Any]:
    return {"items": ITEMS, "client_id": token.client_id}


@app.post("/items", status_code=201)
async def add_item(
    item: NewItem, token: Annotated[AccessToken, Depends(require_scopes("items.write"))]
) -> dict[str, Any]:
    created = {"id": len(ITEMS) + 1, "name": item.name, "added_by": token.sub or token.client_id}
    ITEMS.append(created)
    return created


@app.get("/me")
@requires_scopes("profile")
async def me(request: Request) -> JSONResponse:
    token: AccessToken = request.state.token
    return JSONResponse(
        {"sub": token.sub, "client_id": token.client_id, "scopes": sorted(request.state.scopes), "exp": token.exp}
    )


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
