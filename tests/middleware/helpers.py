"""Real host apps for the bearer middleware tests: the server mounted at ``/oauth`` beside protected routes.

Tokens are obtained the way a real client obtains them (``POST /oauth/token`` through the mounted
:class:`~asgi_oauth.OAuthServer`), and every request goes through the whole ASGI stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import Lifespan
from starlette.websockets import WebSocket

from asgi_oauth import OAuthServer, OAuthSettings, Store
from asgi_oauth.middleware import BearerTokenMiddleware, LocalValidator, Rule, TokenValidator, protect, requires_scopes

from ..web.helpers import Registered, register, verify_password

ISSUER = "https://api.example.test/oauth"
BASE_URL = "https://api.example.test"
REALM = "example-api"
SECRET_KEY = "middleware-test-signing-key-0123456789abcdef"


@dataclass(frozen=True)
class Cred(Registered):
    """A confidential client: the plain secret is always there."""

    secret: str

    @property
    def basic(self) -> tuple[str, str]:
        return self.client_id, self.secret


def make_cred(client_id: str, **options: Any) -> Cred:
    registered = register(client_id, **options)
    assert registered.secret is not None
    return Cred(registered.client, registered.secret)


def make_cast() -> dict[str, Cred]:
    """``m2m`` (client_credentials), ``app`` (password + refresh), ``rs`` (a resource server: introspects any)."""
    return {
        "m2m": make_cred("m2m", grant_types=["client_credentials"], scope="read write admin"),
        "app": make_cred("app", grant_types=["password", "refresh_token"], scope="read write"),
        "rs": make_cred("rs", grant_types=[], introspect_any=True),
    }


def settings_for(**overrides: Any) -> OAuthSettings:
    return OAuthSettings(
        **{"issuer": ISSUER, "secret_key": SECRET_KEY, "enable_password_grant": True, "realm": REALM, **overrides}
    )


# -- what the endpoints report ----------------------------------------------------------------------


def token_view(conn: HTTPConnection) -> dict[str, Any]:
    """Everything the middleware hands the endpoint, as JSON (types named where they matter)."""
    token = conn.state.token
    scopes = conn.state.scopes
    user = conn.user
    return {
        "token_type": type(token).__name__,
        "client_id": token.client_id,
        "sub": token.sub,
        "scope": token.scope,
        "exp": token.exp,
        "username": token.username,
        "scopes": sorted(scopes),
        "scopes_type": type(scopes).__name__,
        "user": {
            "type": type(user).__name__,
            "is_authenticated": user.is_authenticated,
            "identity": user.identity,
            "display_name": user.display_name,
        },
        "auth_scopes": list(conn.auth.scopes),
    }


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "method": request.method, **token_view(request)})


async def public(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "public": True,
            "has_token": "token" in request.scope.get("state", {}),
            "authenticated": request.user.is_authenticated,
        }
    )


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"item_id": request.path_params["item_id"], "client_id": request.state.token.client_id})


async def docs(request: Request) -> JSONResponse:
    if request.method == "GET":
        return JSONResponse({"docs": "anyone may read these"})
    return JSONResponse({"written_by": request.state.token.client_id}, status_code=201)


@requires("write")
async def starlette_requires(request: Request) -> JSONResponse:
    """Guarded by Starlette's own decorator; the middleware's ``/api`` rule supplies ``request.auth``."""
    return JSONResponse({"ok": True, "client_id": request.user.identity})


@requires("read")
async def uncovered_requires(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires_scopes("read", "write")
async def decorated_all(request: Request) -> JSONResponse:
    return JSONResponse({"mode": "all", **token_view(request)})


@requires_scopes("admin", "write", mode="any")
async def decorated_any(request: Request) -> JSONResponse:
    return JSONResponse({"mode": "any", **token_view(request)})


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(token_view(websocket))
    message = await websocket.receive_text()
    await websocket.send_text(f"echo:{message}")
    await websocket.close()


#: The host app's rules; the first one that matches wins, so the narrower ``/api/admin`` comes first.
RULES: tuple[Rule, ...] = (
    protect("/api/admin", "admin"),
    protect("/api"),
    protect("/items/{item_id}", "read"),
    protect("/docs", "write", methods=["POST"]),
    protect("/reports", "read", methods=["GET"]),
    protect("/either", "admin", "write", mode="any"),
    protect("/ws", "read"),
)


def host_routes() -> list[BaseRoute]:
    return [
        Route("/public", public),
        Route("/apix", public),
        Route("/api", whoami),
        Route("/api/whoami", whoami, methods=["GET", "POST"]),
        Route("/api/admin/users", whoami),
        Route("/api/starlette", starlette_requires),
        Route("/items", public),
        Route("/items/{item_id}", item),
        Route("/docs", docs, methods=["GET", "POST"]),
        Route("/reports", whoami),
        Route("/either", whoami),
        Route("/decorated/all", decorated_all),
        Route("/decorated/any", decorated_any),
        Route("/uncovered/requires", uncovered_requires),
        WebSocketRoute("/ws/echo", ws_echo),
    ]


def host_app(
    store: Store,
    clients: Mapping[str, Cred],
    *,
    settings: OAuthSettings | None = None,
    validator: TokenValidator | None = None,
    rules: Sequence[Rule] = RULES,
    allow_query_token: bool = False,
    lifespan: Lifespan[Starlette] | None = None,
    extra_routes: Iterable[BaseRoute] = (),
) -> Starlette:
    """Protected routes plus the server at ``/oauth``, all behind one ``BearerTokenMiddleware``."""
    settings = settings if settings is not None else settings_for()
    oauth = OAuthServer(
        settings, store=store, clients=[c.client for c in clients.values()], password_verifier=verify_password
    )
    middleware = [
        Middleware(
            BearerTokenMiddleware,
            validator=validator if validator is not None else LocalValidator(store),
            rules=rules,
            realm=REALM,
            allow_query_token=allow_query_token,
        )
    ]
    routes = [*extra_routes, *host_routes(), Mount("/oauth", app=oauth)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


# -- a client's side ------------------------------------------------------------------------------


async def issue(http: httpx.AsyncClient, cred: Cred, scope: str, *, token_url: str = "/oauth/token") -> str:
    """An access token for ``cred`` by client_credentials."""
    response = await http.post(token_url, auth=cred.basic, data={"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def issue_for_user(
    http: httpx.AsyncClient,
    cred: Cred,
    scope: str,
    *,
    username: str = "alice",
    password: str = "wonderland",
    token_url: str = "/oauth/token",
) -> dict[str, Any]:
    """Access and refresh token for a resource owner, by the password grant."""
    data = {"grant_type": "password", "username": username, "password": password, "scope": scope}
    response = await http.post(token_url, auth=cred.basic, data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["refresh_token"]
    return body


async def revoke(http: httpx.AsyncClient, cred: Cred, token: str, *, revoke_url: str = "/oauth/revoke") -> None:
    response = await http.post(revoke_url, auth=cred.basic, data={"token": token})
    assert response.status_code == 200, response.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- what the answers must look like --------------------------------------------------------------

_PARAM = re.compile(r'(\w+)="([^"\\]*)"')


def challenge(response: httpx.Response) -> dict[str, str]:
    """The ``WWW-Authenticate: Bearer`` parameters, checking the header is well-formed."""
    header = response.headers.get("www-authenticate")
    assert header is not None, f"no WWW-Authenticate on {response.status_code}: {response.text}"
    assert header.startswith("Bearer "), header
    params = dict(_PARAM.findall(header))
    rebuilt = "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    assert rebuilt == header, f"unparseable challenge: {header}"
    return params


def assert_missing(response: httpx.Response) -> None:
    """RFC 6750 section 3.1: no token sent, so a bare challenge without an error code."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "unauthorized"


def assert_invalid(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    params = challenge(response)
    assert params["realm"] == REALM
    assert params["error"] == "invalid_token"
    assert "scope" not in params
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "invalid_token"


def assert_insufficient(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 403, response.text
    params = challenge(response)
    assert params["realm"] == REALM
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == scope
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] == scope


def assert_malformed(response: httpx.Response) -> None:
    """RFC 6750 section 3.1: a request without a usable token is 400 ``invalid_request``, and challenged too."""
    assert response.status_code == 400, response.text
    params = challenge(response)
    assert params["realm"] == REALM
    assert params["error"] == "invalid_request"
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"


def assert_unavailable(response: httpx.Response) -> None:
    """The token could not be checked: 503, never a pass and never a 401 that would send clients to re-auth."""
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert "www-authenticate" not in response.headers
