"""The device authorization grant at ``/full`` (RFC 8628) under hostile input: ``/device_authorization``, the
``/device`` verification page (the code typed in any script, signed in or not, any known-device cookie), the
decision form, and the device's polls at ``/token``.

The back-channel answers are RFC 6749 section 5.2 (checks.form_endpoint); the page is HTML, never framed or
cached, and sends only a browser nobody signed in to to the host's sign-in.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_oauth.known_devices import COOKIE_NAME

from . import checks
from .conftest import budget
from .harness import DEVICE_GRANT, FULL, LOGIN_URL, RESOURCE, SIGNED_IN, Fuzz, consent_fields
from .strategies import FORM, awkward_text, basic_headers, form_bodies, mutated, scopes, values, weighted
from .test_authorize import Headers

DEVICE_NAMES = ["client_id", "client_secret", "scope", "resource"]
PAGE = f"{FULL}/device"
#: Ways a person may type a code: as shown, lower case, without the dash, spaced, in full-width letters.
TYPED = [
    lambda code: code,
    str.lower,
    lambda code: code.replace("-", ""),
    lambda code: " ".join(code),
    lambda code: code.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
    lambda code: code.replace("S", "\u017f"),
]


def device_page(response: httpx.Response, method: str, signed_in: bool) -> None:
    """/device: a page, or (only for a browser nobody signed in to) a redirect to the host's sign-in."""
    checks.no_server_error(response)
    assert response.status_code in {200, 302, 400, 413, 429}, (response.status_code, response.text[:300])
    if response.status_code == 302:
        assert not signed_in
        query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
        assert response.headers["location"].startswith(LOGIN_URL + "?") and query["next"].startswith(PAGE), query
        return
    checks.html_page(response, method)


def cookies() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """No cookie, a known-device cookie of any bytes, or a Cookie header of any bytes."""
    value = st.binary(max_size=80) | awkward_text.map(lambda t: t.encode("utf-8"))
    return st.one_of(
        st.just([]),
        value.map(lambda v: [(b"cookie", COOKIE_NAME.encode() + b"=" + v)]),
        value.map(lambda v: [(b"cookie", v)]),
    )


@budget(80)
@given(data=st.data(), coherent=st.booleans())
async def test_device_authorization_requests(fuzz: Fuzz, data: st.DataObject, coherent: bool) -> None:
    """The public ``tv`` client asking with a hostile scope or resource, or any form from any client."""
    fuzz.example()
    headers: Headers = [(b"content-type", FORM.encode())]
    if coherent:
        scope = weighted((2, st.sampled_from(["read", "write read", ""])), (1, scopes()))
        form = {"client_id": "tv", "scope": data.draw(scope, label="scope")}
        if data.draw(st.booleans(), label="with resource"):
            form["resource"] = data.draw(st.sampled_from([RESOURCE, "urn:x", "https://\u00e9.test/"]) | values())
        body = urlencode(form).encode()
    else:
        body = data.draw(form_bodies(DEVICE_NAMES, st.sampled_from(sorted(fuzz.clients)) | values()), label="body")
        authorization = data.draw(st.none() | basic_headers(fuzz), label="authorization")
        if authorization is not None:
            headers.append((b"authorization", authorization))
    response = await fuzz.request("POST", f"{FULL}/device_authorization", headers=headers, body=body)
    checks.form_endpoint(response, "device_authorization", "POST", headers)


@budget(80)
@given(
    data=st.data(),
    method=st.sampled_from(["GET", "GET", "HEAD", "PUT"]),
    signed_in=st.booleans(),
    cookie=cookies(),
)
async def test_typed_codes(
    fuzz: Fuzz, data: st.DataObject, method: str, signed_in: bool, cookie: list[tuple[bytes, bytes]]
) -> None:
    """The code entered in any script, length and spacing, a real one mutated, or none; any cookie."""
    fuzz.example()
    code = fuzz.live["user_code"]
    typed = weighted(
        (2, st.sampled_from(TYPED).map(lambda typing: typing(code))),
        (2, mutated(code)),
        (3, values()),
    )
    query = data.draw(st.none() | typed.map(lambda t: [("user_code", t)]), label="query")
    headers: Headers = [*cookie, *([(k.encode(), v.encode()) for k, v in SIGNED_IN.items()] if signed_in else [])]
    response = await fuzz.request(method, PAGE, params=query, headers=headers)
    device_page(response, method, signed_in)


@budget(100)
@given(
    data=st.data(),
    typing=st.sampled_from(TYPED),
    decision=st.sampled_from(["allow", "deny"]) | awkward_text,
    tamper=st.sampled_from(["", "", "", "cut", "append", "other", "nul"]),
)
async def test_device_flows(fuzz: Fuzz, data: st.DataObject, typing: object, decision: str, tamper: str) -> None:
    """A device starts, the user types its code (as people do), decides (the form maybe tampered with, or
    posted twice), and the device polls: tokens only after ``allow``, RFC 8628 errors otherwise."""
    fuzz.example()
    assert callable(typing)
    start = await fuzz.request(
        "POST", f"{FULL}/device_authorization", headers=[(b"content-type", FORM.encode())], body=b"client_id=tv"
    )
    checks.form_endpoint(start, "device_authorization", "POST", [])
    grant = start.json()
    headers: Headers = [(k.encode(), v.encode()) for k, v in SIGNED_IN.items()]
    page = await fuzz.request("GET", PAGE, params=[("user_code", typing(grant["user_code"]))], headers=headers)
    device_page(page, "GET", True)
    if page.status_code == 200 and "csrf_token" in page.text:
        fields = {**consent_fields(page.text), "decision": decision}
        token = fields["csrf_token"]
        fields["csrf_token"] = {"cut": token[:-3], "append": token + "x", "other": "x", "nul": token + "\x00"}.get(
            tamper, token
        )
        form = [*headers, (b"content-type", FORM.encode())]
        for _ in range(data.draw(st.integers(1, 2), label="times posted")):
            done = await fuzz.request("POST", PAGE, headers=form, body=urlencode(fields).encode())
            device_page(done, "POST", True)
    poll = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": "tv"}
    poll_headers: Headers = [(b"content-type", FORM.encode())]
    tokens = await fuzz.request("POST", f"{FULL}/token", headers=poll_headers, body=urlencode(poll).encode())
    checks.form_endpoint(tokens, "token", "POST", poll_headers)
    allowed = decision == "allow" and not tamper and page.status_code == 200
    assert (tokens.status_code == 200) == allowed, (tokens.text, decision, tamper)


@budget(40)
@given(data=st.data(), signed_in=st.booleans())
async def test_decision_forms(fuzz: Fuzz, data: st.DataObject, signed_in: bool) -> None:
    """The decision form posted with any fields, encodings and sizes, by someone signed in or not."""
    fuzz.example()
    body = data.draw(form_bodies(["csrf_token", "decision", "user_code"], values("allow", "deny")), label="body")
    headers: Headers = [(b"content-type", FORM.encode())]
    headers += [(k.encode(), v.encode()) for k, v in SIGNED_IN.items()] if signed_in else []
    response = await fuzz.request("POST", PAGE, headers=headers, body=body)
    device_page(response, "POST", signed_in)


@pytest.mark.parametrize("signed_in", [False, True])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_query_string_that_is_not_utf_8_is_no_reason_to_fail(fuzz: Fuzz, method: str, signed_in: bool) -> None:
    """A server hands the query string on as the bytes that came (uvicorn does); the page reads its own path
    without decoding them."""
    headers: Headers = [(b"content-type", FORM.encode())]
    headers += [(k.encode(), v.encode()) for k, v in SIGNED_IN.items()] if signed_in else []
    body = urlencode({"decision": "allow"}).encode()
    response = await fuzz.request(method, PAGE, headers=headers, body=body, query=b"x=\x80\xff&user_code=BCDF-GHJK")
    device_page(response, method, signed_in)
