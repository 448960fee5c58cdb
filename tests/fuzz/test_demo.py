"""The demo behind ``asgi-oauth serve`` under hostile input: its sign-in form (``next`` in any script, any
user name, password and Origin), its pages with any query and any cookies, and the server mounted in it.

A sign-in succeeds only with the right password and then goes to a path on this site, whatever ``next`` said.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_oauth.demo import FLOW_COOKIE, SESSION_COOKIE
from asgi_oauth.known_devices import COOKIE_NAME as DEVICE_COOKIE

from . import checks
from .conftest import budget
from .harness import BASE_URL, DEMO_USERS, Fuzz
from .strategies import FORM, awkward_text, junk_headers, values, weighted
from .test_authorize import Headers

#: Where a sign-in may want to go next: local paths, and every way out of the site parsers disagree on.
NEXT = ["/", "/oauth/authorize?client_id=demo-client&state=\u00e9", "/callback?code=x", "//evil.test/", "/\\evil.test"]
NEXT += ["https://evil.test/", "/%2F%2Fevil.test", "/\t/evil.test", "\\\\evil.test", "/\u202e/", "javascript:x", ""]
ORIGINS = [None, BASE_URL, "https://evil.test", "null", BASE_URL + "/", "https://auth.example.test:443"]
PAGES = ["/", "/login", "/logout", "/start", "/callback", "/api/me", "/oauth/device", "/nothing"]
PAGES += ["/.well-known/oauth-authorization-server/oauth", "/.well-known/openid-configuration/oauth"]


def cookie_header() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """The demo's cookies (session, demo flow, known device) holding any bytes, or a Cookie header of any bytes."""
    value = st.binary(max_size=60) | awkward_text.map(lambda t: t.encode("utf-8"))
    name = st.sampled_from([SESSION_COOKIE, FLOW_COOKIE, DEVICE_COOKIE]).map(str.encode)
    pairs = st.lists(st.builds(lambda n, v: n + b"=" + v, name, value), min_size=1, max_size=3)
    return st.just([]) | pairs.map(lambda p: [(b"cookie", b"; ".join(p))]) | value.map(lambda v: [(b"cookie", v)])


def stays_on_site(location: str) -> None:
    """A redirect after sign-in: a path on this site, never another host (RFC 9700 section 4.11, open redirect)."""
    parts = urlsplit(location)
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    assert not parts.scheme and not parts.netloc, location


@budget(150)
@given(
    data=st.data(),
    next_path=st.sampled_from(NEXT) | awkward_text.map(lambda t: "/" + t) | values(),
    username=weighted((2, st.just("alice")), (1, values())),
    password=weighted((2, st.just("wonderland")), (1, values())),
    origin=weighted((4, st.sampled_from(ORIGINS)), (1, awkward_text)),
)
async def test_sign_in_form(
    demo: Fuzz, data: st.DataObject, next_path: str, username: str, password: str, origin: str | None
) -> None:
    """The sign-in form with any fields, Origin and cookies: a sign-in only with the password, then on-site."""
    demo.example()
    form = urlencode({"next": next_path, "username": username, "password": password}).encode()
    headers: Headers = [(b"content-type", FORM.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode("utf-8")))
    headers += data.draw(cookie_header(), label="cookies")
    response = await demo.request("POST", "/login", headers=headers, body=form)
    checks.no_server_error(response)
    # 429: the failed sign-ins of the examples before filled the limit (Retry-After says for how long).
    assert response.status_code in {303, 400, 401, 403, 413, 429}, (response.status_code, response.text[:300])
    assert response.status_code != 429 or int(response.headers["retry-after"]) >= 1
    if response.status_code == 303:
        assert (username, password) in DEMO_USERS.items()
        stays_on_site(response.headers["location"])
        # Signed in: the page the sign-in went to, and the rest of the site, work with the new session.
        session = [(b"cookie", "; ".join(c.split(";")[0] for c in response.headers.get_list("set-cookie")).encode())]
        page = await demo.request("GET", "/", headers=session)
        assert page.status_code == 200 and "Signed in as" in page.text
    else:
        assert response.headers["content-type"].startswith("text/html")


@budget(80)
@given(
    data=st.data(),
    path=st.sampled_from(PAGES),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "PUT"]),
    query=st.binary(max_size=80) | st.sampled_from([b"next=%2F%2Fevil", b"code=%C3%A9&state=%ff", b"error=%00"]),
    junk=junk_headers(),
)
async def test_pages_with_any_query_and_cookies(
    demo: Fuzz, data: st.DataObject, path: str, method: str, query: bytes, junk: Headers
) -> None:
    """Every page of the demo, any query bytes, any cookies, odd Host and Origin headers."""
    demo.example()
    headers = [*junk, *data.draw(cookie_header(), label="cookies")]
    response = await demo.request(method, path, headers=headers, query=query)
    checks.no_server_error(response)
    if response.status_code in (301, 302, 303, 307, 308) and path in ("/login", "/logout"):
        stays_on_site(response.headers["location"])
    if path == "/login" and method == "GET":
        # The form's hidden ``next`` is where a sign-in will go: on this site whatever the query said.
        assert response.status_code == 200
        (hidden,) = [line for line in response.text.split("<input") if 'name="next"' in line]
        stays_on_site(hidden.split('value="', 1)[1].split('"', 1)[0])


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/start", 303), ("POST", "/login", 401)])
async def test_a_query_string_that_is_not_utf_8_is_no_reason_to_fail(
    demo: Fuzz, method: str, path: str, status: int
) -> None:
    """/start sets a cookie and /login checks the Origin, both from the request's URL; neither reads the query."""
    headers: Headers = [(b"content-type", FORM.encode()), (b"origin", BASE_URL.encode())]
    body = b"username=alice&password=wrong"
    response = await demo.request(method, path, headers=headers, body=body, query=b"\x80\xff")
    assert response.status_code == status, response.text[:300]
