"""BearerTokenMiddleware's Authorization header (and ``access_token`` query) parsing under hostile input.

Whatever arrives: 200 only for a live token, otherwise an RFC 6750 answer (400 ``invalid_request``,
401 with a ``Bearer`` challenge, 403 ``insufficient_scope``), never a 5xx.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import Fuzz
from .strategies import METHODS, awkward_text, mutated

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
