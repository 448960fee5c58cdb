"""The middleware as an RFC 9728 protected resource: its metadata, its challenges, and RFC 8707 audiences.

A real host app on both stores: the server at ``/oauth``, ``/mcp`` guarded by a rule, an endpoint behind
it asking for more with ``requires_scopes``. Audience-bound tokens are written to the store the way the
server records them (an ``AccessToken`` with ``resource``), since the token endpoint does not take
``resource`` yet; unbound ones come from the real token endpoint.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgi_oauth import (
    AccessToken,
    BearerTokenMiddleware,
    LocalValidator,
    OAuthServer,
    Store,
    crypto,
    protect,
    requires_scopes,
)

from .helpers import BASE_URL, ISSUER, REALM, Cred, bearer, challenge, issue, make_cast, settings_for

RESOURCE = f"{BASE_URL}/mcp"
PRM_URL = f"{BASE_URL}/.well-known/oauth-protected-resource/mcp"


async def tool(request: Request) -> JSONResponse:
    return JSONResponse({"client_id": request.state.token.client_id})


@requires_scopes("admin")
async def admin_tool(request: Request) -> JSONResponse:
    return JSONResponse({"admin": True})


def resource_app(store: Store, cast: dict[str, Cred], **options: Any) -> Starlette:
    oauth = OAuthServer(
        settings_for(enable_password_grant=False), store=store, clients=[c.client for c in cast.values()]
    )
    middleware = Middleware(
        BearerTokenMiddleware,
        validator=LocalValidator(store),
        rules=[protect("/mcp", "read")],
        realm=REALM,
        **{"resource": RESOURCE, "authorization_servers": [ISSUER], **options},
    )
    routes = [Route("/mcp", tool, methods=["GET", "POST"]), Route("/mcp/admin", admin_tool), Mount("/oauth", oauth)]
    return Starlette(routes=routes, middleware=[middleware])


@pytest.fixture
async def cast() -> dict[str, Cred]:
    return make_cast()


@pytest.fixture
async def http(store: Store, cast: dict[str, Cred]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=resource_app(store, cast))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


async def bound_token(store: Store, resource: str | None, scope: str = "read") -> str:
    """A live access token whose audience is ``resource``, stored as the server stores one."""
    family_id, token = crypto.new_token()
    now = int(time.time())
    record = AccessToken(client_id="m2m", scope=scope, sub=None, iat=now, exp=now + 300, resource=resource)
    await store.put_access(family_id, crypto.digest(token, "access"), record)
    return token


# -- the metadata document ------------------------------------------------------------------------


async def test_protected_resource_metadata(http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "public" in response.headers["cache-control"]
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["read"],  # from the rules
        "bearer_methods_supported": ["header"],
    }
    head = await http.head("/.well-known/oauth-protected-resource/mcp")
    assert head.status_code == 200 and head.content == b""
    assert (await http.post("/.well-known/oauth-protected-resource/mcp")).status_code == 405


async def test_metadata_preflight(http: httpx.AsyncClient) -> None:
    headers = {"Origin": "https://inspector.example", "Access-Control-Request-Method": "GET"}
    response = await http.options("/.well-known/oauth-protected-resource/mcp", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "mcp-protocol-version" in response.headers["access-control-allow-headers"].lower()


async def test_scopes_supported_given_and_never_offline_access(store: Store, cast: dict[str, Cred]) -> None:
    app = resource_app(store, cast, scopes_supported=["read", "offline_access", "write"], resource_name="Tools")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        document = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert document["scopes_supported"] == ["read", "write"]
    assert document["resource_name"] == "Tools"


def test_resource_needs_an_authorization_server_and_an_absolute_uri(store: Store) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None: ...

    with pytest.raises(ValueError, match="authorization_servers"):
        BearerTokenMiddleware(app, validator=LocalValidator(store), resource=RESOURCE)
    with pytest.raises(ValueError, match="absolute"):
        BearerTokenMiddleware(app, validator=LocalValidator(store), resource="/mcp", authorization_servers=[ISSUER])


# -- challenges ------------------------------------------------------------------------------------


async def test_missing_token_points_to_the_metadata_and_the_scope(http: httpx.AsyncClient) -> None:
    response = await http.post("/mcp")
    assert response.status_code == 401
    assert challenge(response) == {"realm": REALM, "scope": "read", "resource_metadata": PRM_URL}


async def test_invalid_token_challenge(http: httpx.AsyncClient) -> None:
    response = await http.post("/mcp", headers=bearer("not-a-live-token"))
    assert response.status_code == 401
    params = challenge(response)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == PRM_URL
    assert params["scope"] == "read"


async def test_insufficient_scope_names_every_scope_needed(http: httpx.AsyncClient, store: Store) -> None:
    """Behind the ``read`` rule, an endpoint needing ``admin`` asks for both: what a step-up must request."""
    writer = await bound_token(store, RESOURCE, "write")
    refused = await http.get("/mcp", headers=bearer(writer))
    assert refused.status_code == 403
    assert challenge(refused) | {"error_description": ""} == {
        "realm": REALM,
        "error": "insufficient_scope",
        "error_description": "",
        "scope": "read",
        "resource_metadata": PRM_URL,
    }
    reader = await bound_token(store, RESOURCE, "read")
    step_up = await http.get("/mcp/admin", headers=bearer(reader))
    assert step_up.status_code == 403
    assert challenge(step_up)["scope"] == "read admin"
    assert step_up.json()["scope"] == "read admin"
    admin = await bound_token(store, RESOURCE, "read admin")
    assert (await http.get("/mcp/admin", headers=bearer(admin))).json() == {"admin": True}


# -- audiences (RFC 8707) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audience", [RESOURCE, f"{RESOURCE}/", "HTTPS://API.EXAMPLE.TEST/mcp", "https://api.example.test:443/mcp"]
)
async def test_a_token_for_this_resource_passes(http: httpx.AsyncClient, store: Store, audience: str) -> None:
    response = await http.get("/mcp", headers=bearer(await bound_token(store, audience)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "audience",
    [
        "https://api.example.test/other",
        "https://api.example.test/MCP",
        "http://api.example.test/mcp",
        "https://api.example.test:8443/mcp",
        "https://evil.example/mcp",
        "not a uri",
    ],
)
async def test_a_token_for_another_resource_is_refused(http: httpx.AsyncClient, store: Store, audience: str) -> None:
    response = await http.get("/mcp", headers=bearer(await bound_token(store, audience)))
    assert response.status_code == 401
    params = challenge(response)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == PRM_URL


async def test_unbound_tokens_are_refused_by_default(http: httpx.AsyncClient, cast: dict[str, Cred]) -> None:
    """MCP: a resource accepts only tokens issued for it; one naming no resource could be replayed anywhere."""
    unbound = await issue(http, cast["m2m"], "read")  # the token endpoint names no resource
    response = await http.get("/mcp", headers=bearer(unbound))
    assert response.status_code == 401
    assert challenge(response)["error"] == "invalid_token"


async def test_unbound_tokens_allowed_when_asked(store: Store, cast: dict[str, Cred]) -> None:
    app = resource_app(store, cast, allow_unbound_tokens=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        unbound = await issue(http, cast["m2m"], "read")
        assert (await http.get("/mcp", headers=bearer(unbound))).json() == {"client_id": "m2m"}
        other = await bound_token(store, "https://elsewhere.example/mcp")
        assert (await http.get("/mcp", headers=bearer(other))).status_code == 401  # bound elsewhere: still no
