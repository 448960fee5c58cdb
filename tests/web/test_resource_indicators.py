"""Resource indicators (RFC 8707) through the real app, on both stores: a resource named at /authorize or /token
is bound to the code and the refresh family, becomes every token's audience (introspection ``aud``), and a
resource the server does not issue for, or another one than the grant's, is ``invalid_target``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from asgi_oauth import SettingsError, load_settings

from .conftest import MakeServer
from .helpers import assert_error, basic
from .test_authorize import CALLBACK, Browser, MakeBrowser, make_browser, redirect_params  # noqa: F401 (fixture)

MCP = "https://api.example/mcp"
OTHER = "https://other.example/api"


@pytest.fixture
async def bound(make_browser: MakeBrowser) -> Browser:  # noqa: F811 (the fixture, imported above)
    browser: Browser = await make_browser(resources=f"{MCP},{OTHER}")
    return browser


async def introspect(browser: Browser, token: str) -> dict[str, Any]:
    rs = browser.clients["rs"]
    assert rs.secret is not None
    answer = await browser.http.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": basic("rs", rs.secret)}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def refresh(browser: Browser, refresh_token: str, **params: str) -> Any:
    web = browser.clients["web"]
    assert web.secret is not None
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **params}
    return await browser.http.post("/oauth/token", data=form, headers={"Authorization": basic("web", web.secret)})


def test_configured_resources_are_checked_and_kept_canonical() -> None:
    assert load_settings(resources="https://API.example/mcp/, http://localhost:8000").resources == (
        MCP,
        "http://localhost:8000",
    )
    with pytest.raises(SettingsError, match=re.escape("ASGI_OAUTH_RESOURCES: 'api.example/mcp' is not an absolute")):
        load_settings(resources="api.example/mcp")


async def test_a_resource_named_at_authorize_is_every_tokens_audience(bound: Browser) -> None:
    code, verifier = await bound.code_for(resource="https://API.example/mcp/")
    exchanged = await bound.exchange("web", code, code_verifier=verifier, redirect_uri=CALLBACK)
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    assert (await introspect(bound, tokens["access_token"]))["aud"] == MCP
    assert (await introspect(bound, tokens["refresh_token"]))["aud"] == MCP
    refreshed = await refresh(bound, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert (await introspect(bound, refreshed.json()["access_token"]))["aud"] == MCP
    # The grant is for MCP: a refresh asking for another resource is refused, and changes nothing.
    other = await refresh(bound, refreshed.json()["refresh_token"], resource=OTHER)
    assert_error(other, "invalid_target")
    assert (await refresh(bound, refreshed.json()["refresh_token"], resource=MCP)).status_code == 200


async def test_the_token_request_may_not_switch_resources_and_burns_the_code(bound: Browser) -> None:
    code, verifier = await bound.code_for(resource=MCP)
    switched = await bound.exchange("web", code, code_verifier=verifier, redirect_uri=CALLBACK, resource=OTHER)
    assert_error(switched, "invalid_target")
    again = await bound.exchange("web", code, code_verifier=verifier, redirect_uri=CALLBACK, resource=MCP)
    assert_error(again, "invalid_grant")  # single use: the failed exchange spent it


@pytest.mark.parametrize("resource", ["https://unknown.example/api", "/relative", "https://api.example/mcp#x"])
async def test_authorize_refuses_other_resources_by_redirect(bound: Browser, resource: str) -> None:
    query = {"response_type": "code", "client_id": "web", "redirect_uri": CALLBACK, "state": "s9"}
    answer = await bound.authorize(**query, code_challenge="c" * 43, code_challenge_method="S256", resource=resource)
    params = redirect_params(answer)
    assert params["error"] == "invalid_target"
    assert params["state"] == "s9"


async def test_a_grant_without_a_resource_may_name_one_per_token(make_browser: MakeBrowser) -> None:  # noqa: F811
    browser: Browser = await make_browser()  # no RESOURCES configured: any absolute URI
    code, verifier = await browser.code_for()
    tokens = (await browser.exchange("web", code, code_verifier=verifier, redirect_uri=CALLBACK)).json()
    assert "aud" not in await introspect(browser, tokens["access_token"])
    refreshed = await refresh(browser, tokens["refresh_token"], resource="https://anything.example/x")
    assert refreshed.status_code == 200, refreshed.text
    assert (await introspect(browser, refreshed.json()["access_token"]))["aud"] == "https://anything.example/x"
    # The family stays unbound: the next refresh may name another resource, or none.
    assert "aud" not in await introspect(browser, refreshed.json()["refresh_token"])
    assert_error(await refresh(browser, refreshed.json()["refresh_token"], resource="nope"), "invalid_target")


async def test_one_resource_per_request(bound: Browser) -> None:
    web = bound.clients["web"]
    assert web.secret is not None
    body = f"grant_type=refresh_token&refresh_token=x&resource={MCP}&resource={OTHER}"
    answer = await bound.http.post(
        "/oauth/token",
        content=body,
        headers={"Authorization": basic("web", web.secret), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(answer, "invalid_request")


async def test_client_credentials_tokens_carry_the_named_resource(make_server: MakeServer) -> None:
    server = await make_server(resources=MCP)
    token = await server.token_ok("m2m", grant_type="client_credentials", resource="https://api.example:443/mcp/")
    assert (await server.introspect(token["access_token"]))["aud"] == MCP
    refused = await server.token("m2m", grant_type="client_credentials", resource=OTHER)
    assert_error(refused, "invalid_target")
    assert refused.json()["error_description"] == "this server issues no tokens for that resource"
    assert "aud" not in await server.introspect(
        (await server.token_ok("m2m", grant_type="client_credentials"))["access_token"]
    )
