r"""An MCP server (the ``mcp`` SDK's ``MCPServer``) with two tools, behind the authorization server.

Needs the ``mcp`` extra: ``.venv/bin/pip install -e '.[mcp]'``. Run it from the clone (port 8001 by default)::

    .venv/bin/python examples/mcp_server.py --port 8001

For several workers, share Redis and a signing key (the MCP endpoint is stateless, so any worker serves any
request)::

    export ASGI_OAUTH_REDIS_URL=redis://127.0.0.1:6379/0
    export ASGI_OAUTH_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    .venv/bin/python examples/mcp_server.py --port 8001 --workers 2

The MCP endpoint is ``http://127.0.0.1:8001/mcp`` and the authorization server ``/oauth``. MCP clients (the
SDK's ``OAuthClientProvider``, FastMCP's ``OAuth``) register themselves (registration is on here) or name
themselves by a Client ID Metadata Document, and send a person to ``/oauth/login`` to sign in as ``alice`` /
``wonderland`` (or one of ``EXAMPLE_USERS="name:password,..."``). Tokens need the scope ``mcp``; the tool
``worker_count`` needs ``mcp:admin`` as well, and a call without it is answered 403 ``insufficient_scope``
naming both, so clients step up. ``EXAMPLE_CLIENT_DOCUMENTS=documents.json`` (``{url: document}``) serves
metadata documents not published yet. A machine client (MCP's client credentials extension) is declared::

    curl -s -u mcp-example:example-secret-change-me -d grant_type=client_credentials -d scope=mcp \
        --data-urlencode resource=http://127.0.0.1:8001/mcp http://127.0.0.1:8001/oauth/token
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
from pathlib import Path

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer

from asgi_oauth import Fetched, User, new_client
from asgi_oauth.mcp import PasswordSignIn, authorized_app

_options = argparse.ArgumentParser(description="Run the MCP server example.")
_options.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default: %(default)s)")
_options.add_argument("--workers", type=int, default=1, help="uvicorn workers; more than 1 needs Redis")
ARGS = _options.parse_args() if __name__ == "__main__" else _options.parse_args([])
# Workers import this module afresh, without arguments: the parent passes the port on in the environment.
PORT = int(os.environ.get("EXAMPLE_PORT", ARGS.port))
USERS = dict(pair.split(":", 1) for pair in os.environ.get("EXAMPLE_USERS", "alice:wonderland").split(","))


async def check_password(username: str, password: str) -> User | None:
    expected = USERS.get(username)
    return User(username) if expected is not None and hmac.compare_digest(expected, password) else None


# Client ID Metadata Documents are fetched from their URLs; EXAMPLE_CLIENT_DOCUMENTS names a JSON file
# {url: document} to try them before any document is published.
DOCUMENTS_FILE = os.environ.get("EXAMPLE_CLIENT_DOCUMENTS")
DOCUMENTS: dict[str, object] = json.loads(Path(DOCUMENTS_FILE).read_text()) if DOCUMENTS_FILE else {}


async def local_documents(url: str) -> Fetched:
    if url not in DOCUMENTS:
        return Fetched(404, {}, b"")
    return Fetched(200, {"content-type": "application/json"}, json.dumps(DOCUMENTS[url]).encode())


machine, _ = new_client(
    name="MCP example client",
    client_id="mcp-example",
    client_secret=os.environ.get("EXAMPLE_CLIENT_SECRET", "example-secret-change-me"),
    grant_types=["client_credentials"],
    scope="mcp mcp:admin",
)
mcp = MCPServer("asgi-oauth example")


@mcp.tool()
async def whoami() -> dict[str, str | None]:
    """Who the bearer token was issued to."""
    token = get_access_token()
    return {"client_id": token.client_id if token else None, "subject": token.subject if token else None}


@mcp.tool()
async def worker_count() -> int:
    """An administrative tool: it needs the scope ``mcp:admin`` besides ``mcp``."""
    return int(os.environ.get("EXAMPLE_WORKERS", "1"))


app = authorized_app(
    mcp,
    f"http://127.0.0.1:{PORT}",
    sign_in=PasswordSignIn(check_password),
    tools={"worker_count": ["mcp:admin"]},
    registration=True,
    clients=[machine],
    document_fetcher=local_documents if DOCUMENTS_FILE else None,
)


if __name__ == "__main__":
    os.environ["EXAMPLE_PORT"] = str(PORT)
    os.environ["EXAMPLE_WORKERS"] = str(ARGS.workers)
    if ARGS.workers > 1:
        uvicorn.run("examples.mcp_server:app", host="127.0.0.1", port=PORT, workers=ARGS.workers)
    else:
        uvicorn.run(app, host="127.0.0.1", port=PORT)
