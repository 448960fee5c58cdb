"""``asgi_oauth.mcp``: the ``mcp`` SDK's TokenVerifier over this package's validators, on both stores, and a 503
(not the SDK's 401, not a 500) when the store cannot be reached."""

from __future__ import annotations

import json

import httpx
import pytest
from mcp.server.auth.provider import AccessToken as McpAccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth import AccessToken, LocalValidator, RedisStore, Store, ValidationUnavailable, crypto
from asgi_oauth.mcp import TokenVerifier, ToolScopes, unavailable_as_503


async def test_a_live_token_becomes_the_sdks_access_token(store: Store) -> None:
    family_id, token = crypto.new_token()
    record = AccessToken("app", "write read", "alice", 1, 4_000_000_000.5, "Alice", resource="https://api.example/mcp")
    await store.put_access(family_id, crypto.digest(token, "access"), record)
    verified = await TokenVerifier(LocalValidator(store)).verify_token(token)
    assert verified == McpAccessToken(
        token=token,
        client_id="app",
        scopes=["read", "write"],
        expires_at=4_000_000_000,
        resource="https://api.example/mcp",
        subject="alice",
    )


async def test_unknown_and_junk_tokens_are_none(store: Store) -> None:
    verifier = TokenVerifier(LocalValidator(store))
    assert await verifier.verify_token(crypto.new_token()[1]) is None
    assert await verifier.verify_token("junk") is None


async def test_an_unreachable_store_is_503_not_a_401(unreachable_store: RedisStore) -> None:
    verifier = TokenVerifier(LocalValidator(unreachable_store))
    with pytest.raises(ValidationUnavailable):
        await verifier.verify_token(crypto.new_token()[1])

    async def endpoint(request: Request) -> JSONResponse:
        await verifier.verify_token(crypto.new_token()[1])
        return JSONResponse({"reached": True})

    app = unavailable_as_503(Starlette(routes=[Route("/mcp", endpoint, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.post("/mcp")
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.headers["retry-after"] == "1"


async def test_tool_scopes_refuse_only_calls_that_need_more_and_pass_the_body_on_intact(store: Store) -> None:
    seen: list[bytes] = []

    async def echo(request: Request) -> JSONResponse:
        seen.append(await request.body())
        return JSONResponse({"passed": True})

    inner = Starlette(routes=[Route("/mcp", echo, methods=["POST"])])
    app = ToolScopes(inner, validator=LocalValidator(store), required={"admin": ["mcp:admin"]}, base=["mcp"])
    family_id, token = crypto.new_token()
    await store.put_access(family_id, crypto.digest(token, "access"), AccessToken("app", "mcp", None, 1, 4e9))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "admin"}}
    other = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        bearer = {"Authorization": f"Bearer {token}"}
        refused = await http.post("/mcp", json=[other, call], headers=bearer)  # a batch with one admin call
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="mcp mcp:admin"'
        allowed = await http.post("/mcp", json=other, headers=bearer)
        assert allowed.status_code == 200
        # No token: not this layer's to refuse (the SDK answers its 401); the body reaches the app whole.
        assert (await http.post("/mcp", json=call)).status_code == 200
    assert [json.loads(body) for body in seen] == [other, call]


async def test_tool_scopes_pass_a_body_nested_too_deep_to_read_on_to_the_app(store: Store) -> None:
    """JSON nested deeper than the parser goes names no tool call this layer can judge; the MCP app refuses it."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"length": len(await request.body())})

    inner = Starlette(routes=[Route("/mcp", echo, methods=["POST"])])
    app = ToolScopes(inner, validator=LocalValidator(store), required={"admin": ["mcp:admin"]})
    body = b"[" * 100_000 + b"]" * 100_000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.post("/mcp", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.json() == {"length": len(body)}
