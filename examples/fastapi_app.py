"""A FastAPI app: the authorization server mounted at /oauth, its own endpoints protected by bearer tokens.

Three ways to protect an endpoint are shown:

* a path rule given to the middleware (``GET /items`` needs ``items.read``);
* a FastAPI dependency, :func:`require_scopes`, for endpoints with typed parameters (``POST /items``
  also needs ``items.write``); it reads what the middleware validated;
* the library's ``@requires_scopes`` decorator on an endpoint taking only ``request`` (``GET /me``),
  which validates on demand on a path no rule covers.

Run it from a clone (``pip install . fastapi``)::

    python examples/fastapi_app.py

then, in another shell::

    curl -si http://127.0.0.1:8000/items                      # 401: no token
    TOKEN=$(curl -s -u inventory:inventory-secret-change-me -d grant_type=client_credentials \\
        -d scope=items.read http://127.0.0.1:8000/oauth/token \\
        | python -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/items
    curl -si -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
        -d '{"name": "lamp"}' http://127.0.0.1:8000/items     # 403: items.write is missing
    curl -si -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/me   # 403: profile is missing

Ask for ``-d 'scope=items.read items.write profile'`` to be allowed everything. The interactive docs at
http://127.0.0.1:8000/docs are public: no rule covers them. Set ``ASGI_OAUTH_REDIS_URL`` to keep
clients and tokens in Redis instead of this process's memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from asgi_oauth import OAuthServer, load_settings, new_client
from asgi_oauth.middleware import BearerTokenMiddleware, LocalValidator, protect, requires_scopes
from asgi_oauth.models import AccessToken
from asgi_oauth.store import store_from_settings

CLIENT_ID = "inventory"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "inventory-secret-change-me")
REALM = "inventory"

settings = load_settings(issuer="http://127.0.0.1:8000/oauth", realm=REALM)
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


def current_token(request: Request) -> AccessToken:
    """The token the middleware validated for this request (its path must be covered by a rule)."""
    token = getattr(request.state, "token", None)
    if not isinstance(token, AccessToken):
        # A route outside every rule: refuse rather than run unauthenticated.
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    return token


def require_scopes(*needed: str) -> Callable[[Request], AccessToken]:
    """A dependency: the validated token, or 403 ``insufficient_scope`` unless it has every scope in ``needed``."""

    def dependency(request: Request) -> AccessToken:
        token = current_token(request)
        missing = set(needed) - request.state.scopes
        if missing:
            scope = " ".join(needed)
            challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
            raise HTTPException(403, f"needs scope {scope}", headers={"WWW-Authenticate": challenge})
        return token

    return dependency


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
    uvicorn.run(app, host="127.0.0.1", port=8000)
