r"""An MCP server (the ``mcp`` SDK's ``MCPServer``) with one tool, mounted beside the authorization server.

Needs the ``mcp`` extra: ``.venv/bin/pip install -e '.[mcp]'``. Run it from the clone (port 8001 by default)::

    .venv/bin/python examples/mcp_server.py --port 8001

For several workers, share Redis and a signing key (the MCP endpoint is stateless, so any worker serves any
request)::

    export ASGI_OAUTH_REDIS_URL=redis://127.0.0.1:6379/0
    export ASGI_OAUTH_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    .venv/bin/python examples/mcp_server.py --port 8001 --workers 2

The MCP endpoint is ``/mcp``; its protected resource metadata (RFC 9728) is at
``/.well-known/oauth-protected-resource/mcp`` and names the authorization server ``/oauth``, whose RFC 8414
metadata is at ``/.well-known/oauth-authorization-server/oauth``. Tokens must be issued for the resource
``http://127.0.0.1:8001/mcp`` (RFC 8707 ``resource``) and carry the scope ``mcp``; a token for any other
resource is refused. The tool ``worker_count`` needs the scope ``mcp:admin`` as well: asked for with a token
without it, it answers 403 ``insufficient_scope`` naming both scopes, so clients step up. With the declared
client below (``curl`` for a machine; a person signs in at ``/login`` as ``alice`` / ``wonderland``, or as one of
``EXAMPLE_USERS="name:password,..."``, when an MCP client sends them to ``/oauth/authorize``). MCP clients
register themselves with ``ASGI_OAUTH_ENABLE_DYNAMIC_REGISTRATION=1`` (and ``ASGI_OAUTH_DYNAMIC_REGISTRATION_SCOPES``)
or name themselves by a metadata document with ``ASGI_OAUTH_ENABLE_CLIENT_ID_METADATA_DOCUMENTS=1``;
``EXAMPLE_CLIENT_DOCUMENTS=documents.json`` (``{url: document}``) serves documents not published yet::

    curl -s -u mcp-example:example-secret-change-me -d grant_type=client_credentials -d scope=mcp \
        --data-urlencode resource=http://127.0.0.1:8001/mcp http://127.0.0.1:8001/oauth/token
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from itsdangerous import BadSignature, URLSafeTimedSerializer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from asgi_oauth import (
    Fetched,
    KnownDevices,
    LocalValidator,
    OAuthServer,
    TooManyAttempts,
    User,
    discovery_routes,
    load_settings,
    new_client,
    store_from_settings,
)
from asgi_oauth.mcp import TokenVerifier, ToolScopes, unavailable_as_503

CLIENT_ID = "mcp-example"
CLIENT_SECRET = os.environ.get("EXAMPLE_CLIENT_SECRET", "example-secret-change-me")

_options = argparse.ArgumentParser(description="Run the MCP server example.")
_options.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default: %(default)s)")
_options.add_argument("--workers", type=int, default=1, help="uvicorn workers; more than 1 needs Redis")
ARGS = _options.parse_args() if __name__ == "__main__" else _options.parse_args([])
# Workers import this module afresh, without arguments: the parent passes the port on in the environment.
PORT = int(os.environ.get("EXAMPLE_PORT", ARGS.port))
BASE = f"http://127.0.0.1:{PORT}"
MCP_RESOURCE = f"{BASE}/mcp"

settings = load_settings(issuer=f"{BASE}/oauth", resources=MCP_RESOURCE)
store = store_from_settings(settings)  # Redis with ASGI_OAUTH_REDIS_URL, else this process's memory
client, _ = new_client(
    name="MCP example client",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    grant_types=["client_credentials"],
    scope="mcp mcp:admin",
)
# -- the host's sign-in: what /authorize sends a browser to; your application has its own ---------------------
USERS = dict(pair.split(":", 1) for pair in os.environ.get("EXAMPLE_USERS", "alice:wonderland").split(","))
sessions = URLSafeTimedSerializer(list(reversed(settings.signing_keys)), salt="mcp-example.session")
devices = KnownDevices.from_settings(settings)


async def signed_in(request: Request) -> User | None:
    try:
        name = sessions.loads(request.cookies.get("session", ""), max_age=3600)
    except BadSignature:
        return None
    return User(name) if name in USERS else None


def local(path: str | None) -> str:
    return path if path and path.startswith("/") and not path.startswith("//") else "/"


async def login(request: Request) -> Response:
    """A sign-in form sharing the server's failed-attempt limits (the README's "Failed attempts")."""
    form = await request.form() if request.method == "POST" else {}
    back = local(str(form.get("next") or request.query_params.get("next") or "/"))
    page = (
        '<!doctype html><title>Sign in</title><form method="post">'
        f'<input type="hidden" name="next" value="{html.escape(back)}">'
        '<input name="username"> <input name="password" type="password"> <button>Sign in</button></form>'
    )
    if request.method != "POST":
        return HTMLResponse(page)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    cookie = request.cookies.get("asgi_oauth_device")
    attempt = devices.user_attempt(username, request.client.host if request.client else None, cookie)
    try:
        known = await oauth.limiter.check(attempt)
        expected = USERS.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            await oauth.limiter.failed(attempt)
            return HTMLResponse(page, 401)
        await oauth.limiter.succeeded(attempt, known=known)
    except TooManyAttempts as refused:
        return HTMLResponse(page, 429, headers={"Retry-After": str(refused.retry_after)})
    response = RedirectResponse(back, 303)
    response.set_cookie("session", sessions.dumps(username), max_age=3600, httponly=True, samesite="lax")
    response.set_cookie("asgi_oauth_device", devices.remember(cookie, attempt.principal), httponly=True)
    return response


# Client ID Metadata Documents (with ASGI_OAUTH_ENABLE_CLIENT_ID_METADATA_DOCUMENTS=1) are fetched from their URLs;
# EXAMPLE_CLIENT_DOCUMENTS names a JSON file {url: document} to try them before any document is published.
DOCUMENTS_FILE = os.environ.get("EXAMPLE_CLIENT_DOCUMENTS")
DOCUMENTS: dict[str, object] = json.loads(Path(DOCUMENTS_FILE).read_text()) if DOCUMENTS_FILE else {}


async def local_documents(url: str) -> Fetched:
    if url not in DOCUMENTS:
        return Fetched(404, {}, b"")
    return Fetched(200, {"content-type": "application/json"}, json.dumps(DOCUMENTS[url]).encode())


oauth = OAuthServer(
    settings,
    store=store,
    clients=[client],
    user_resolver=signed_in,
    document_fetcher=local_documents if DOCUMENTS_FILE else None,
)

mcp = MCPServer(
    "asgi-oauth example",
    token_verifier=TokenVerifier(LocalValidator(store)),
    auth=AuthSettings(
        issuer_url=settings.issuer,
        resource_server_url=MCP_RESOURCE,
        required_scopes=["mcp"],
        validate_token_resource=True,
    ),
)


@mcp.tool()
async def whoami() -> dict[str, str | None]:
    """Who the bearer token was issued to."""
    token = get_access_token()
    return {"client_id": token.client_id if token else None, "subject": token.subject if token else None}


@mcp.tool()
async def worker_count() -> int:
    """An administrative tool: it needs the scope ``mcp:admin`` besides ``mcp`` (see ``ToolScopes`` below)."""
    return int(os.environ.get("EXAMPLE_WORKERS", "1"))


mcp_app = mcp.streamable_http_app(stateless_http=True, json_response=True)
# A call of an admin tool with a token lacking mcp:admin is a 403 naming the scopes to ask for (step-up).
tool_scopes = ToolScopes(
    unavailable_as_503(mcp_app),
    validator=LocalValidator(store),
    required={"worker_count": ["mcp:admin"]},
    base=["mcp"],
    resource_metadata=f"{BASE}/.well-known/oauth-protected-resource/mcp",
)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # A mounted app gets no lifespan of its own: run the MCP session manager's, and close the store at the end.
    async with mcp_app.router.lifespan_context(mcp_app):
        yield
    await oauth.aclose()


app = Starlette(
    routes=[
        *discovery_routes(oauth),  # the RFC 8414 metadata where MCP clients look for it
        Route("/login", login, methods=["GET", "POST"]),
        Mount("/oauth", app=oauth),
        Mount("/", app=tool_scopes),  # /mcp and its /.well-known/oauth-protected-resource/mcp
    ],
    lifespan=lifespan,
)


if __name__ == "__main__":
    os.environ["EXAMPLE_PORT"] = str(PORT)
    os.environ["EXAMPLE_WORKERS"] = str(ARGS.workers)
    if ARGS.workers > 1:
        uvicorn.run("examples.mcp_server:app", host="127.0.0.1", port=PORT, workers=ARGS.workers)
    else:
        uvicorn.run(app, host="127.0.0.1", port=PORT)
