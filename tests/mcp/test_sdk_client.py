"""The ``mcp`` SDK's own OAuth client (``OAuthClientProvider``) against an MCP server on this authorization server,
in process (the SDK's httpx2 over ASGI), on both stores: discovery from the 401, a Client ID Metadata Document
(fetched offline), PKCE with ``resource``, the token, a tool call, a refresh, and a 403 step-up.

What the browser would do (sign in, approve) is the redirect handler below; the user is signed in already.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from asgi_oauth import LocalValidator, OAuthServer, Store, User, discovery_routes, load_settings
from asgi_oauth.mcp import TokenVerifier, ToolScopes
from asgi_oauth.protocol.cimd import Fetched

BASE = "http://127.0.0.1:8001"
MCP_URL = f"{BASE}/mcp"
CLIENT_ID = "https://client.example/mcp-client.json"
CALLBACK = "http://127.0.0.1:33418/callback"


class Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def offline_documents(url: str) -> Fetched:
    assert url == CLIENT_ID, url
    document = {
        "client_id": CLIENT_ID,
        "client_name": "SDK test client",
        "redirect_uris": ["http://127.0.0.1/callback"],  # any port on loopback (RFC 8252)
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "mcp mcp:admin",  # the scopes this client may be granted
    }
    return Fetched(200, {"content-type": "application/json"}, json.dumps(document).encode())


async def signed_in(request: Request) -> User:
    return User("alice")


def build(store: Store) -> tuple[Starlette, Any]:
    settings = load_settings(
        issuer=f"{BASE}/oauth",
        resources=MCP_URL,
        enable_client_id_metadata_documents=True,
        dynamic_registration_scopes="mcp mcp:admin",  # what clients nobody registered may be given
        access_token_lifetime=2,
        secret_key="sdk-client-test-key-" + "k" * 20,
    )
    oauth = OAuthServer(
        settings,
        store=store,
        user_resolver=signed_in,
        document_fetcher=offline_documents,
        scope_descriptions={"mcp": "use the tools", "mcp:admin": "use the admin tools"},
    )
    server = MCPServer(
        "sdk test",
        token_verifier=TokenVerifier(LocalValidator(store)),
        auth=AuthSettings(
            issuer_url=settings.issuer,
            resource_server_url=MCP_URL,
            required_scopes=["mcp"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    async def whoami() -> str:
        token = get_access_token()
        return token.subject or "" if token else ""

    @server.tool()
    async def admin() -> str:
        return "admin"

    mcp_app = server.streamable_http_app(stateless_http=True, json_response=True)
    guarded = ToolScopes(
        mcp_app,
        validator=LocalValidator(store),
        required={"admin": ["mcp:admin"]},
        base=["mcp"],
        resource_metadata=f"{BASE}/.well-known/oauth-protected-resource/mcp",
    )
    app = Starlette(routes=[*discovery_routes(oauth), Mount("/oauth", app=oauth), Mount("/", app=guarded)])
    return app, mcp_app


class Browser:
    """The redirect and callback handlers: approve the consent page, hand the code back."""

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self.http = http
        self.result: AuthorizationCodeResult | None = None
        self.scopes_asked: list[str] = []

    async def redirect(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        self.scopes_asked.append(query.get("scope", [""])[0])
        assert query["resource"] == [MCP_URL]
        page = await self.http.get(url)
        assert page.status_code == 200, page.headers.get("location")
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
        done = await self.http.post(f"{BASE}/oauth/authorize", data={**fields, "decision": "allow"})
        assert done.status_code in (302, 303), done.text
        back = parse_qs(urlsplit(done.headers["location"]).query)
        self.result = AuthorizationCodeResult(code=back["code"][0], state=back["state"][0], iss=back["iss"][0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


@asynccontextmanager
async def running(store: Store) -> AsyncIterator[tuple[httpx2.AsyncClient, Browser, Storage]]:
    app, mcp_app = build(store)
    async with mcp_app.router.lifespan_context(mcp_app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE) as plain:
            browser = Browser(plain)
            storage = Storage()
            metadata = OAuthClientMetadata(
                redirect_uris=[CALLBACK],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
                scope="mcp",
                client_name="SDK test client",
            )
            provider = OAuthClientProvider(
                MCP_URL,
                metadata,
                storage,
                redirect_handler=browser.redirect,
                callback_handler=browser.callback,
                client_metadata_url=CLIENT_ID,
            )
            async with httpx2.AsyncClient(transport=transport, base_url=BASE, auth=provider) as authed:
                yield authed, browser, storage


async def test_the_sdk_client_discovers_signs_in_calls_refreshes_and_steps_up(store: Store) -> None:
    async with (
        running(store) as (http, browser, storage),
        streamable_http_client(MCP_URL, http_client=http) as (read, write),
        ClientSession(read, write) as s,
    ):
        await s.initialize()
        first = await s.call_tool("whoami", {})
        assert not first.is_error and first.content[0].text == "alice"
        assert storage.client is not None and storage.client.client_id == CLIENT_ID  # CIMD, no registration
        issued = storage.tokens
        assert issued is not None and issued.refresh_token
        await asyncio.sleep(2.5)  # past ACCESS_TOKEN_LIFETIME: the SDK refreshes before the next call
        again = await s.call_tool("whoami", {})
        assert not again.is_error
        assert storage.tokens is not None and storage.tokens.access_token != issued.access_token
        assert len(browser.scopes_asked) == 1  # refreshed, not signed in again
        stepped = await s.call_tool("admin", {})
        assert not stepped.is_error and stepped.content[0].text == "admin"
        assert len(browser.scopes_asked) == 2
        assert set(browser.scopes_asked[1].split()) >= {"mcp", "mcp:admin"}
