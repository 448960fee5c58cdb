"""Discovery (RFC 8414 at every URL MCP clients try) and CORS on the endpoints browser-based clients call.

Through the real host app on both stores: the server mounted at ``/oauth``, ``publish_discovery`` adding
the root routes, as the README tells users to.
"""

from __future__ import annotations

import httpx
import pytest

from asgi_oauth import discovery_routes, publish_discovery

from .conftest import MakeServer
from .helpers import ISSUER, Server

#: Every place the MCP SDK and the conformance suite look for issuer ``https://auth.example.test/oauth``.
DISCOVERY_URLS = (
    "/.well-known/oauth-authorization-server/oauth",
    "/.well-known/openid-configuration/oauth",
    "/oauth/.well-known/openid-configuration",
    "/oauth/.well-known/oauth-authorization-server",
)
ORIGIN = {"Origin": "https://inspector.example"}


async def published(make_server: MakeServer, **settings: object) -> Server:
    server = await make_server(**settings)
    publish_discovery(server.app.router.routes, server.oauth)
    return server


async def test_one_document_at_every_discovery_url(make_server: MakeServer) -> None:
    server = await published(make_server)
    bodies = set()
    for url in DISCOVERY_URLS:
        response = await server.http.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "application/json", url
        assert "public" in response.headers["cache-control"], url
        bodies.add(response.content)
    (body,) = bodies  # byte-identical everywhere
    document = httpx.Response(200, content=body).json()
    assert document["issuer"] == ISSUER  # the exact string: clients compare it to the PRM's
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "none" in document["token_endpoint_auth_methods_supported"]
    assert "code" in document["response_types_supported"]


async def test_plain_pkce_is_advertised_only_when_allowed(make_server: MakeServer) -> None:
    server = await published(make_server, allow_plain_pkce=True)
    document = (await server.http.get(DISCOVERY_URLS[0])).json()
    assert document["code_challenge_methods_supported"] == ["S256", "plain"]


@pytest.mark.parametrize(
    ("issuer", "paths"),
    [
        (
            "https://a.test/oauth",
            ["/.well-known/oauth-authorization-server/oauth", "/.well-known/openid-configuration/oauth"],
        ),
        (
            "https://a.test/t/1/",
            ["/.well-known/oauth-authorization-server/t/1", "/.well-known/openid-configuration/t/1"],
        ),
        ("https://a.test", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]),
    ],
)
async def test_root_paths_insert_the_issuer_path(make_server: MakeServer, issuer: str, paths: list[str]) -> None:
    """RFC 8414 section 3.1: well-known first, then the issuer's path without its terminating slash."""
    server = await make_server(issuer=issuer)
    routes = discovery_routes(server.oauth)
    assert [getattr(route, "path", None) for route in routes] == paths


async def test_root_routes_refuse_other_methods(make_server: MakeServer) -> None:
    server = await published(make_server)
    assert (await server.http.post(DISCOVERY_URLS[0])).status_code == 405
    head = await server.http.head(DISCOVERY_URLS[1])
    assert head.status_code == 200 and head.content == b""


# -- CORS ---------------------------------------------------------------------------------------------

CORS_URLS = (*DISCOVERY_URLS, "/oauth/openapi.json")


def assert_preflight(response: httpx.Response, method: str) -> None:
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers  # no cookies here, ever
    assert method in response.headers["access-control-allow-methods"].split(", ")
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "mcp-protocol-version"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0


def preflight(server: Server, url: str, method: str) -> httpx.Request:
    headers = {
        **ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
    }
    return server.http.build_request("OPTIONS", url, headers=headers)


@pytest.mark.parametrize("url", CORS_URLS)
async def test_documents_answer_cors(make_server: MakeServer, url: str) -> None:
    server = await published(make_server)
    assert_preflight(await server.http.send(preflight(server, url, "GET")), "GET")
    actual = await server.http.get(url, headers=ORIGIN)
    assert actual.status_code == 200
    assert actual.headers["access-control-allow-origin"] == "*"


async def test_token_endpoint_answers_cors(server: Server) -> None:
    assert_preflight(await server.http.send(preflight(server, "/oauth/token", "POST")), "POST")
    issued = await server.post("/oauth/token", {"grant_type": "client_credentials"}, client="m2m", headers=ORIGIN)
    assert issued.status_code == 200
    assert issued.headers["access-control-allow-origin"] == "*"
    assert issued.headers["cache-control"] == "no-store"
    # Errors too, and a script may read the Basic challenge of a 401.
    refused = await server.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("m2m", "wrong"), headers=ORIGIN
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"
    assert "WWW-Authenticate" in refused.headers["access-control-expose-headers"]


async def test_revocation_endpoint_answers_cors(server: Server) -> None:
    assert_preflight(await server.http.send(preflight(server, "/oauth/revoke", "POST")), "POST")
    revoked = await server.post("/oauth/revoke", {"token": "not-a-token"}, client="m2m", headers=ORIGIN)
    assert revoked.status_code == 200
    assert revoked.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("url", ["/oauth/token", "/oauth/revoke"])
async def test_back_channel_answers_without_an_origin_carry_no_cors(server: Server, url: str) -> None:
    """No browser asked (it would name its origin), and these answers are never cached for one that will."""
    params = {"grant_type": "client_credentials", "token": "not-a-token"}
    answered = await server.post(url, params, client="m2m")
    refused = await server.http.post(url, data=params, auth=("m2m", "wrong"))
    assert (answered.status_code, refused.status_code) == (200, 401)
    for answer in (answered, refused):
        assert answer.headers["cache-control"] == "no-store"
        assert not any(name.startswith("access-control-") for name in answer.headers)


@pytest.mark.parametrize("url", ["/oauth/authorize", "/oauth/introspect"])
async def test_authorize_and_introspect_answer_no_cors(server: Server, url: str) -> None:
    """A navigation and a server-to-server call: no script on another origin has any business there."""
    answer = await server.http.send(preflight(server, url, "POST"))
    assert answer.status_code != 204
    assert not any(name.startswith("access-control-") for name in answer.headers)
    actual = await server.http.post(url, headers=ORIGIN, data={"token": "x"})
    assert not any(name.startswith("access-control-") for name in actual.headers)


async def test_a_non_cors_endpoint_still_refuses_options(server: Server) -> None:
    answer = await server.http.options("/oauth/introspect")
    assert answer.status_code == 405
    assert answer.json()["error"] == "invalid_request"
