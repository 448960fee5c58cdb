"""BearerTokenMiddleware's Authorization header (and ``access_token`` query) parsing under hostile input, and
OpenID Connect's ``/userinfo``, which reads the same header (or an ``access_token`` form field).

Whatever arrives: 200 only for a live token, otherwise an RFC 6750 answer (400 ``invalid_request``,
401 with a ``Bearer`` challenge, 403 ``insufficient_scope``), never a 5xx.
"""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import FULL, Fuzz
from .strategies import FORM, METHODS, awkward_text, content_types, mutated

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
    token = st.one_of(mutated(fuzz.live["openid_access"]), tokens(fuzz).map(lambda t: t.decode("latin-1")))
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
