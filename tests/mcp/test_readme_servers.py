"""The MCP guide's two server files, run verbatim with its command on two workers sharing Redis, and
judged by clients nobody here wrote: the ``mcp`` SDK's ``OAuthClientProvider`` and client-credentials
provider, FastMCP's ``OAuth`` client (default callback ``http://localhost:<random port>/callback``) and its
client-credentials provider, and the MCP conformance suite's ``authorization`` command on every spec version.

Each client registers (the files ask for registration), a person signs in on the file's sign-in page and
allows on the consent page (:class:`tests.mcp.conformance.Browser`), the client calls ``add``, then
``shutdown_all``, which needs ``admin`` as well: the client steps up and the person allows again. A file
whose ``sign_in=`` is left out stops at start-up with a message saying what to pass.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from ..docs.pages import blocks, doc_section
from ..serving import Server, clean_env, free_port, run_cli, running
from ..test_serve import SECRET_KEY
from .conformance import SPEC_VERSIONS, Browser, ConformanceUnavailable, Suite, install, run_authorization
from .test_conformance import judge
from .test_sdk_client_served import Storage

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Using in-memory token storage:UserWarning")]

FRAMEWORKS = {"sdk": "With the `mcp` SDK", "fastmcp": "With FastMCP"}
MACHINE = "mcp-agent"
CONFORMANCE_CLIENT = "mcp-conformance"


def readme_file(framework: str) -> str:
    (code,) = blocks(doc_section(FRAMEWORKS[framework]), "python")
    return code + "\n"


def readme_command(port: int, app_dir: Path) -> list[str]:
    """The README's uvicorn line, as printed but for the port, run by this environment's uvicorn."""
    (block,) = blocks(doc_section("With FastMCP"), "sh")
    command = shlex.split(block.splitlines()[-1])
    assert command[:2] == ["uvicorn", "server:app"] and "--workers" in command, command
    command[command.index("--port") + 1] = str(port)
    return [sys.executable, "-m", *command, "--app-dir", str(app_dir)]


@dataclass
class Running:
    server: Server
    base: str
    #: The machine client's secret, as ``asgi-oauth clients create`` printed it.
    secret: str

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"


def env_for(redis_url: str, port: int, prefix: str) -> dict[str, str]:
    return clean_env(
        ASGI_OAUTH_REDIS_URL=redis_url,
        ASGI_OAUTH_SECRET_KEY=SECRET_KEY,
        ASGI_OAUTH_KEY_PREFIX=prefix,
        ASGI_OAUTH_ISSUER=f"http://127.0.0.1:{port}/oauth",
    )


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Running]:
    framework = request.param
    app_dir = tmp_path_factory.mktemp(f"readme-{framework}")
    (app_dir / "server.py").write_text(readme_file(framework))
    port = free_port()
    env = env_for(redis_url, port, f"readme{uuid.uuid4().hex[:10]}")
    printed = []
    for args in (
        ["--name", "Agent", "--client-id", MACHINE, "--grant-type", "client_credentials", "--scope", "mcp admin"],
        ["--name", "MCP conformance suite", "--client-id", CONFORMANCE_CLIENT, "--public", "--grant-type",
         "authorization_code", "refresh_token", "--redirect-uri", "http://127.0.0.1/callback"],
    ):  # fmt: skip
        created = run_cli("clients", "create", *args, env=env)
        assert created.returncode == 0, created.stderr
        printed.append(json.loads(created.stdout))
    argv = readme_command(port, app_dir)
    ready = "/.well-known/oauth-protected-resource/mcp"
    with running(argv, env, port, app_dir, ready_path=ready, workers=2) as server:
        yield Running(server, f"http://127.0.0.1:{port}", printed[0]["client_secret"])


# -- the mcp SDK's clients ---------------------------------------------------------------------------


class SdkBrowser:
    """The SDK client's redirect and callback handlers: a person signs in and allows; the code is handed over."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.scopes_asked: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self.scopes_asked.append(parse_qs(urlsplit(url).query).get("scope", [""])[0])
        final = await asyncio.to_thread(Browser(self.base, deliver=False).authorize, url)
        back = parse_qs(urlsplit(final).query)
        self.result = AuthorizationCodeResult(code=back["code"][0], state=back["state"][0], iss=back["iss"][0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def test_the_sdk_client_signs_in_calls_a_tool_and_steps_up(served: Running) -> None:
    browser = SdkBrowser(served.base)
    metadata = OAuthClientMetadata(
        redirect_uris=["http://127.0.0.1:33420/callback"],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        client_name="SDK client (README test)",
    )
    provider = OAuthClientProvider(
        served.mcp_url, metadata, Storage(), redirect_handler=browser.redirect, callback_handler=browser.callback
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(served.mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        added = await session.call_tool("add", {"a": 2, "b": 3})
        assert not added.is_error, added
        assert added.structured_content == {"result": 5}
        assert browser.scopes_asked == ["mcp"]
        stepped = await session.call_tool("shutdown_all", {})
        assert not stepped.is_error, stepped
        assert stepped.structured_content == {"result": "done"}
        assert len(browser.scopes_asked) == 2 and set(browser.scopes_asked[1].split()) == {"mcp", "admin"}


async def test_the_sdk_client_credentials_provider_calls_a_tool(served: Running) -> None:
    provider = ClientCredentialsOAuthProvider(
        served.mcp_url, Storage(), MACHINE, served.secret, scope="mcp admin", issuer=f"{served.base}/oauth"
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(served.mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("shutdown_all", {})
        assert not result.is_error, result
        assert result.structured_content == {"result": "done"}


# -- FastMCP's clients -----------------------------------------------------------------------------------


async def test_fastmcps_client_with_its_default_localhost_callback_signs_in_and_steps_up(
    served: Running, person: list[str]
) -> None:
    from fastmcp import Client
    from fastmcp.client.auth import OAuth

    async with Client(served.mcp_url, auth=OAuth(client_name="FastMCP client (README test)")) as client:
        added = await client.call_tool("add", {"a": 2, "b": 3})
        assert added.structured_content == {"result": 5}
        stepped = await client.call_tool("shutdown_all", {})
        assert stepped.structured_content == {"result": "done"}
    asked = [parse_qs(urlsplit(url).query) for url in person if not url.startswith("failed")]
    assert len(asked) == 2, person
    assert all(re.fullmatch(r"http://localhost:\d+/callback", q["redirect_uri"][0]) for q in asked), asked
    assert set(asked[1]["scope"][0].split()) == {"mcp", "admin"}


async def test_fastmcps_client_credentials_provider_calls_a_tool(served: Running) -> None:
    from fastmcp import Client
    from fastmcp.client.auth import ClientCredentialsOAuthProvider as FastMCPClientCredentials

    auth = FastMCPClientCredentials(
        client_id=MACHINE, client_secret=served.secret, scopes=["mcp"], issuer=f"{served.base}/oauth"
    )
    async with Client(served.mcp_url, auth=auth) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
        # It asked for mcp only: the 403 for the admin tool makes it ask for admin too, by itself.
        assert (await client.call_tool("shutdown_all", {})).structured_content == {"result": "done"}


# -- the conformance suite -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> Suite:
    try:
        return install()
    except ConformanceUnavailable as exc:
        pytest.fail(f"the MCP conformance suite is not available: {exc}", pytrace=False)


@pytest.mark.parametrize("spec_version", SPEC_VERSIONS)
def test_the_conformance_suite(spec_version: str, served: Running, suite: Suite, tmp_path: Path) -> None:
    run = run_authorization(
        f"{served.base}/oauth",
        spec_version,
        client_id=CONFORMANCE_CLIENT,
        port=free_port(),
        resource=served.mcp_url,
        suite=suite,
        output_dir=tmp_path / "results",
    )
    print("\n".join(run.summary()))
    assert any(line.startswith("delivered ") for line in run.browser), run.output
    judge(run)


# -- an unconfigured sign-in ------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_without_sign_in_the_file_stops_at_start_up_saying_what_to_pass(framework: str, tmp_path: Path) -> None:
    code = readme_file(framework)
    unconfigured = re.sub(
        r"sign_in=[A-Za-z_]+(\([A-Za-z_]*\))?, ", "", code.replace("sign_in = PasswordSignIn(check_password)\n", "")
    )
    assert "sign_in=" not in unconfigured, unconfigured
    (tmp_path / "server.py").write_text(unconfigured)
    # One worker: with several, uvicorn's supervisor starts each failing worker again, and never exits.
    command = readme_command(free_port(), tmp_path)
    workers = command.index("--workers")
    del command[workers : workers + 2]
    started = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode != 0
    assert (
        "SettingsError: an MCP server needs a way for people to sign in: pass sign_in=PasswordSignIn(" in started.stderr
    )
