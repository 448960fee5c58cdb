"""BearerTokenMiddleware's Authorization header (and ``access_token`` query) parsing under hostile input, and
OpenID Connect's ``/userinfo``, which reads the same header (or an ``access_token`` form field), and the MCP
step-up layer (``ToolScopes``), which reads the token and a JSON-RPC body.

Whatever arrives: 200 only for a live token, otherwise an RFC 6750 answer (400 ``invalid_request``,
401 with a ``Bearer`` challenge, 403 ``insufficient_scope``), never a 5xx.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_oauth import LocalValidator
from asgi_oauth.mcp import ToolScopes

from . import checks
from .conftest import budget
from .harness import BASE_URL, FULL, REQUESTS, Fuzz
from .strategies import FORM, METHODS, awkward_text, content_types, json_bodies, json_values, mutated

Headers = list[tuple[bytes, bytes]]
PATHS = ["/api/me", "/api/admin/me", "/open/scoped"]
SCHEMES = [b"Bearer", b"bearer", b"BEARER", b"Bearer ", b"Bearer\t", b"Basic", b"MAC", b"Bearer:", b"Bearerx", b""]


def tokens(fuzz: Fuzz) -> st.SearchStrategy[bytes]:
    live = [fuzz.live["app_access"], fuzz.live["m2m_access"], fuzz.live["app_refresh"]]
    text = st.one_of(*[mutated(token) for token in live], awkward_text)
    return st.one_of(
        text.map(lambda t: t.encode("utf-8")),
        st.binary(max_size=80),
        st.sampled_from([b"", b"=", b"a=b", b"~+/", b"a" * 100_000, b"\xff" * 10]),
    )


def authorization_values(fuzz: Fuzz) -> st.SearchStrategy[bytes]:
    scheme_and_token = st.builds(
        lambda s, sep, t: s + sep + t,
        st.sampled_from(SCHEMES),
        st.sampled_from([b" ", b"  ", b"\t", b""]),
        tokens(fuzz),
    )
    return st.one_of(scheme_and_token, st.binary(max_size=60))


@budget(150)
@given(
    data=st.data(),
    path=st.sampled_from(PATHS),
    method=st.sampled_from(["GET", "GET", "POST", *METHODS]),
)
async def test_authorization_headers(fuzz: Fuzz, data: st.DataObject, path: str, method: str) -> None:
    """Zero to three Authorization headers of any scheme and bytes, and sometimes a query token too."""
    fuzz.example()
    headers: Headers = [
        (b"authorization", value)
        for value in data.draw(st.lists(authorization_values(fuzz), max_size=3), label="authorization")
    ]
    query = b""
    if data.draw(st.booleans(), label="query token"):
        token = data.draw(tokens(fuzz), label="query")
        query = data.draw(st.sampled_from([b"access_token=", b"x=1&access_token=", b"access_token=a&access_token="]))
        query += token
    response = await fuzz.request(method, path, headers=headers, query=query)
    live = {name: fuzz.live[name] for name in ("app_access", "m2m_access")}
    checks.bearer(response, method=method, headers=headers, query=query, live=live)


@budget(80)
@given(
    data=st.data(),
    method=st.sampled_from(["GET", "POST", "POST", *METHODS]),
    form=st.none() | st.lists(st.sampled_from(["access_token", "scope", "x"]), max_size=2, unique=True),
)
async def test_userinfo(fuzz: Fuzz, data: st.DataObject, method: str, form: list[str] | None) -> None:
    """OpenID Connect's /userinfo: the token in zero or one Authorization header, in a form field, both or neither."""
    fuzz.example()
    header = data.draw(st.none() | authorization_values(fuzz), label="authorization")
    headers: Headers = [] if header is None else [(b"authorization", header)]
    # A well-formed form (no NUL, which makes it unreadable: test_userinfo_bodies sends such ones).
    token = st.one_of(mutated(fuzz.live["openid_access"]), tokens(fuzz).map(lambda t: t.decode("latin-1")))
    token = token.map(lambda t: t.replace("\x00", ""))
    fields = {name: data.draw(token, label=name) for name in form or []}
    if form is not None:
        headers.append((b"content-type", FORM.encode()))
    body = urlencode(fields).encode()
    response = await fuzz.request(method, f"{FULL}/userinfo", headers=headers, body=body)
    # An empty field is an absent one (RFC 6749 section 3.1).
    body_token = (fields.get("access_token") or None) if method == "POST" and form is not None else None
    checks.userinfo(response, method=method, headers=headers, body_token=body_token, live=fuzz.live["openid_access"])


@budget(40)
@given(body=st.binary(max_size=200), content_type=content_types(), header=st.none() | st.binary(max_size=80))
async def test_userinfo_bodies(fuzz: Fuzz, body: bytes, content_type: bytes | None, header: bytes | None) -> None:
    """Any bytes as a POST body to /userinfo, under any content type: an RFC-shaped refusal, never a 5xx."""
    fuzz.example()
    headers = [(b"content-type", content_type)] if content_type is not None else []
    headers += [(b"authorization", header)] if header is not None else []
    response = await fuzz.request("POST", f"{FULL}/userinfo", headers=headers, body=body)
    checks.no_server_error(response)
    assert response.status_code in {400, 401, 403, 413}, response.status_code
    checks.rfc_error(response, checks.BEARER_ERRORS | {"unauthorized"})
    if response.status_code != 413:  # RFC 6750 section 3: no usable token, a Bearer challenge
        assert response.headers["www-authenticate"].startswith('Bearer realm="'), response.headers


def tool_calls() -> st.SearchStrategy[object]:
    """JSON-RPC ``tools/call`` messages (alone or batched) naming any tool, or any JSON."""
    call = st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "id": st.integers(), "method": st.just("tools/call")},
        optional={
            "params": st.fixed_dictionaries({}, optional={"name": st.sampled_from(["admin", "echo"]) | json_values})
        },
    )
    return call | st.lists(call | json_values, max_size=3) | json_values


@budget(40)
@given(data=st.data(), body=json_bodies(tool_calls()))
async def test_mcp_tool_scopes(fuzz: Fuzz, data: st.DataObject, body: bytes) -> None:
    """The MCP step-up layer reading any JSON-RPC body with any token: 403 only for a live token lacking the tool's
    scope, otherwise the body reaches the MCP app intact."""
    fuzz.example()
    seen: list[bytes] = []

    async def mcp(request: Request) -> JSONResponse:
        seen.append(await request.body())
        return JSONResponse({"ok": True})

    app = ToolScopes(
        Starlette(routes=[Route("/mcp", mcp, methods=["POST"])]),
        validator=LocalValidator(fuzz.store),
        required={"admin": ["admin:users"]},
    )
    headers: Headers = [(b"content-type", b"application/json")]
    authorization = data.draw(st.none() | authorization_values(fuzz), label="authorization")
    if authorization is not None:
        headers.append((b"authorization", authorization))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        REQUESTS[fuzz.test_id] += 1
        response = await http.post("/mcp", content=body, headers=headers)
    checks.no_server_error(response)
    assert response.status_code in (200, 403), response.status_code
    if response.status_code == 200:
        assert seen == [body]
    else:
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
