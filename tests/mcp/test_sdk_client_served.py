"""The ``mcp`` SDK's own OAuth client against ``examples/mcp_server.py`` and ``examples/fastmcp_server.py`` run as
documented on two workers sharing
Redis, over real HTTP: discovery from the 401, dynamic client registration (RFC 7591), sign-in and consent in
the browser step, PKCE with ``resource``, a tool call, a refresh, and a 403 step-up for the admin tool. Once
with dynamic client registration (RFC 7591), once with a Client ID Metadata Document that the example reads
from a local file (``EXAMPLE_CLIENT_DOCUMENTS``) instead of fetching it."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from ..serving import Server, clean_env, free_port, running
from ..test_serve import SECRET_KEY

pytestmark = pytest.mark.slow

CALLBACK = "http://127.0.0.1:33419/callback"
DOCUMENT_URL = "https://client.example/mcp-client.json"
FASTMCP_DOCUMENT_URL = "https://client.example/fastmcp-client.json"


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


class Example:
    def __init__(self, server: Server, port: int) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module", params=["mcp_server", "fastmcp_server"])
def example(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Example]:
    port = free_port()
    documents = tmp_path_factory.mktemp("documents") / "documents.json"
    document = {
        "client_id": DOCUMENT_URL,
        "client_name": "SDK served test (document)",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    }
    # FastMCP's client listens on http://localhost:<random port>/callback: its document names localhost.
    fastmcp_document = {
        "client_id": FASTMCP_DOCUMENT_URL,
        "client_name": "FastMCP client (document)",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
    }
    documents.write_text(json.dumps({DOCUMENT_URL: document, FASTMCP_DOCUMENT_URL: fastmcp_document}))
    env = clean_env(
        EXAMPLE_CLIENT_DOCUMENTS=str(documents),
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=f"sdk{uuid.uuid4().hex[:10]}",
        ASGI_OAUTH_ACCESS_TOKEN_LIFETIME="2",
    )
    argv = [sys.executable, f"examples/{request.param}.py", "--port", str(port), "--workers", "2"]
    logs = tmp_path_factory.mktemp("mcp-sdk-served")
    with running(argv, env, port, logs, ready_path="/.well-known/oauth-protected-resource/mcp", workers=2) as server:
        yield Example(server, port)


class Browser:
    """A person at the example: follows /authorize to the sign-in page, signs in as alice, approves."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.result: AuthorizationCodeResult | None = None
        self.scopes_asked: list[str] = []

    async def redirect(self, url: str) -> None:
        self.scopes_asked.append(parse_qs(urlsplit(url).query).get("scope", [""])[0])
        async with httpx2.AsyncClient(timeout=10) as http:  # a fresh browser each time: no session yet
            page = await http.get(url)
            while page.status_code in (302, 303) and page.headers["location"].startswith(("/", self.base)):
                target = urljoin(self.base, page.headers["location"])
                if urlsplit(target).path.endswith("/login"):
                    login = await http.get(target)
                    fields = _fields(login.text)
                    data = {**fields, "username": "alice", "password": "wonderland"}
                    page = await http.post(target, data=data)
                else:
                    page = await http.get(target)
            assert page.status_code == 200, (page.status_code, page.headers.get("location"))
            done = await http.post(f"{self.base}/oauth/authorize", data={**_fields(page.text), "decision": "allow"})
        back = parse_qs(urlsplit(done.headers["location"]).query)
        self.result = AuthorizationCodeResult(code=back["code"][0], state=back["state"][0], iss=back["iss"][0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def _fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}


@pytest.mark.parametrize("document", [False, True], ids=["registration", "metadata-document"])
async def test_the_sdk_client_registers_signs_in_calls_refreshes_and_steps_up(example: Example, document: bool) -> None:
    mcp_url = f"{example.base}/mcp"
    browser = Browser(example.base)
    storage = Storage()
    metadata = OAuthClientMetadata(
        redirect_uris=[CALLBACK],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        # No scope: registered for every scope the server gives dynamic clients, so it can step up later.
        client_name="SDK served test",
    )
    provider = OAuthClientProvider(
        mcp_url,
        metadata,
        storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
        client_metadata_url=DOCUMENT_URL if document else None,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=15) as http,
        streamable_http_client(mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        first = await session.call_tool("whoami", {})
        assert not first.is_error, first
        assert first.structured_content == {"client_id": storage.client.client_id, "subject": "alice"}  # type: ignore[union-attr]
        assert storage.client is not None
        if document:
            assert storage.client.client_id == DOCUMENT_URL  # no registration: the URL is the client id
        else:
            assert storage.client.client_id not in ("mcp-example", DOCUMENT_URL)  # registered just now
        issued = storage.tokens
        assert issued is not None and issued.refresh_token
        await asyncio.sleep(2.5)  # past the 2 s access token lifetime: the SDK refreshes first
        again = await session.call_tool("whoami", {})
        assert not again.is_error
        assert storage.tokens is not None and storage.tokens.access_token != issued.access_token
        assert len(browser.scopes_asked) == 1
        stepped = await session.call_tool("worker_count", {})
        assert not stepped.is_error, stepped
        assert stepped.structured_content == {"result": 2}
        assert len(browser.scopes_asked) == 2
        assert set(browser.scopes_asked[1].split()) >= {"mcp", "mcp:admin"}


@pytest.mark.filterwarnings("ignore:Using in-memory token storage:UserWarning")
async def test_fastmcps_client_by_a_metadata_document_with_its_default_localhost_callback(
    example: Example, person: list[str]
) -> None:
    """FastMCP's client offering a Client ID Metadata Document, listening on ``localhost`` at a random port."""
    from fastmcp import Client
    from fastmcp.client.auth import OAuth

    async with Client(f"{example.base}/mcp", auth=OAuth(client_metadata_url=FASTMCP_DOCUMENT_URL)) as client:
        answer = await client.call_tool("whoami", {})
        assert answer.structured_content == {"client_id": FASTMCP_DOCUMENT_URL, "subject": "alice"}
    (asked,) = person
    query = parse_qs(urlsplit(asked).query)
    assert query["client_id"] == [FASTMCP_DOCUMENT_URL]
    assert re.fullmatch(r"http://localhost:\d+/callback", query["redirect_uri"][0])
