"""Request parsing shared by /token, /introspect and /revoke: method, content type, size, encoding.

Whatever arrives, the answer is an RFC 6749 section 5.2 JSON error or a success, never a 500.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest

from .conftest import MakeServer
from .helpers import ENDPOINTS, INTROSPECT, REVOKE, TOKEN, Server, assert_error, basic

FORM = "application/x-www-form-urlencoded"
MAX = 64 * 1024


def auth(server: Server) -> dict[str, str]:
    return {"Authorization": basic("m2m", server.clients["m2m"].secret or "")}


async def send(
    server: Server, path: str, body: bytes, content_type: str = FORM, *, authorization: str | None = ""
) -> httpx.Response:
    """POST raw ``body``; authenticated as m2m unless ``authorization`` is given (``None``: no header)."""
    headers = {"Content-Type": content_type}
    if authorization == "":
        headers.update(auth(server))
    elif authorization is not None:
        headers["Authorization"] = authorization
    return await server.http.post(path, content=body, headers=headers)


def valid_body(path: str) -> bytes:
    return b"grant_type=client_credentials" if path == TOKEN else b"token=abc"


# -- method ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_only_post_is_allowed(server: Server, path: str, method: str) -> None:
    response = await server.http.request(method, path, headers=auth(server))

    assert_error(response, "invalid_request", 405)
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_head_is_405_too(server: Server, path: str) -> None:
    response = await server.http.head(path)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""


@pytest.mark.parametrize("method", ["PROPFIND", "TRACE"])
async def test_unlisted_methods_get_the_same_405(server: Server, method: str) -> None:
    response = await server.http.request(method, TOKEN)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_get_with_valid_parameters_in_the_query_is_still_405(server: Server) -> None:
    response = await server.http.get(TOKEN, params={"grant_type": "client_credentials"}, headers=auth(server))

    assert_error(response, "invalid_request", 405)
    assert "access_token" not in response.text


# -- content type ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        "application/x-www-form-urlencodedx",
        "application/x-www-form-urlencoded-but-not",
    ],
)
async def test_only_form_bodies_are_accepted(server: Server, path: str, content_type: str) -> None:
    response = await send(server, path, valid_body(path), content_type)

    assert_error(response, "invalid_request")


async def test_json_body_is_refused(server: Server) -> None:
    response = await server.http.post(TOKEN, json={"grant_type": "client_credentials"}, headers=auth(server))

    assert_error(response, "invalid_request")


async def test_missing_content_type_is_refused(server: Server) -> None:
    request = server.http.build_request("POST", TOKEN, content=b"grant_type=client_credentials", headers=auth(server))
    assert "content-type" not in request.headers

    assert_error(await server.http.send(request), "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
        "application/x-www-form-urlencoded ;charset=utf-8",
    ],
)
async def test_form_content_type_parameters_and_case_are_fine(server: Server, content_type: str) -> None:
    response = await send(server, TOKEN, b"grant_type=client_credentials", content_type)

    assert response.status_code == 200, response.text


# -- duplicated and malformed parameters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (TOKEN, b"grant_type=client_credentials&grant_type=client_credentials"),
        (TOKEN, b"grant_type=client_credentials&scope=read&scope=write"),
        (TOKEN, b"grant_type=client_credentials&scope=&scope=read"),
        (TOKEN, b"grant_type=client_credentials&client_id=m2m&client_id=m2m"),
        (INTROSPECT, b"token=a&token=b"),
        (INTROSPECT, b"token=a&token_type_hint=access_token&token_type_hint=refresh_token"),
        (REVOKE, b"token=a&token=a"),
    ],
)
async def test_duplicated_parameters_are_invalid_request(server: Server, path: str, body: bytes) -> None:
    response = await send(server, path, body)

    error = assert_error(response, "invalid_request")
    assert "more than once" in error["error_description"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&scope=r\xe9ad",  # Latin-1, not UTF-8
        b"grant_type=client_credentials&scope=\xff\xfe",
        b"token=\xc3\x28",  # invalid UTF-8 sequence
        b"grant_type=client_credentials&scope=%ff",  # percent-encoded invalid UTF-8
        b"token=%ed%a0%80",  # an encoded UTF-16 surrogate
        b"grant_type=client_credentials&scope=read%00",  # percent-encoded NUL
        b"token=abc\x00def",  # a raw NUL
        b"grant_type=client_credentials&\x00=1",
        b"%00=token",
    ],
)
async def test_bodies_that_are_not_clean_utf8_are_invalid_request(server: Server, path: str, body: bytes) -> None:
    response = await send(server, path, body)

    assert_error(response, "invalid_request")


async def test_utf8_in_a_body_is_fine_where_the_protocol_allows_it(server: Server) -> None:
    # A password may be any text; percent-encoded UTF-8 is how forms carry it.
    app = basic("app", server.clients["app"].secret or "")
    form = urlencode({"grant_type": "password", "username": "alice", "password": "wonderland"})
    response = await send(server, TOKEN, form.encode(), authorization=app)
    assert response.status_code == 200, response.text
    form = urlencode({"grant_type": "password", "username": "ålice", "password": "wönderland ✓"})
    response = await send(server, TOKEN, form.encode(), authorization=app)
    assert_error(response, "invalid_grant")


async def test_too_many_parameters_are_refused(server: Server) -> None:
    body = "grant_type=client_credentials&" + "&".join(f"p{i}=x" for i in range(200))

    assert_error(await send(server, TOKEN, body.encode()), "invalid_request")


async def test_empty_and_odd_bodies(server: Server) -> None:
    for body in [b"", b"&&&", b"=", b"grant_type", b"=client_credentials", b"grant_type=&scope=read"]:
        assert_error(await send(server, TOKEN, body), "invalid_request")
    # Only the first '=' separates: the value is "=client_credentials", an unknown grant type.
    assert_error(await send(server, TOKEN, b"grant_type==client_credentials"), "unsupported_grant_type")


async def test_plus_and_percent_decoding_of_values(server: Server) -> None:
    response = await send(server, TOKEN, b"grant_type=client_credentials&scope=read+%2Faccounts.read")

    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"read", "/accounts.read"}


# -- body size -------------------------------------------------------------------------------------


def padded(path: str, size: int) -> bytes:
    """A valid body for ``path`` padded to ``size`` bytes with an ignored parameter."""
    prefix = valid_body(path) + b"&padding="
    return prefix + b"x" * (size - len(prefix))


class Chunks:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, total: int, chunk: int = 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&padding="
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_body_at_the_limit_is_parsed(server: Server, path: str) -> None:
    response = await send(server, path, padded(path, MAX))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_body_over_the_limit_is_413(server: Server, path: str) -> None:
    response = await send(server, path, padded(path, MAX + 1))

    assert_error(response, "invalid_request", 413)
    assert "access_token" not in response.text


async def test_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    body = Chunks(total=10 * MAX)
    request = server.http.build_request("POST", TOKEN, content=body, headers={"Content-Type": FORM, **auth(server)})
    request.headers["Content-Length"] = str(10 * MAX)

    response = await server.http.send(request)

    assert_error(response, "invalid_request", 413)
    assert body.sent == 0


async def test_lying_content_length_does_not_get_past_the_limit(server: Server) -> None:
    body = padded(TOKEN, 4 * MAX)
    request = server.http.build_request("POST", TOKEN, content=body, headers={"Content-Type": FORM, **auth(server)})
    request.headers["Content-Length"] = "40"

    assert_error(await server.http.send(request), "invalid_request", 413)


async def test_streamed_body_without_content_length_is_cut_off(server: Server) -> None:
    body = Chunks(total=100 * MAX)
    request = server.http.build_request("POST", TOKEN, content=body, headers={"Content-Type": FORM, **auth(server)})
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"

    response = await server.http.send(request)

    assert_error(response, "invalid_request", 413)
    # The server stopped pulling just past the limit instead of buffering everything.
    assert body.sent <= MAX + 2 * body.chunk


async def test_small_streamed_body_is_fine(server: Server) -> None:
    body = Chunks(total=1024)
    request = server.http.build_request("POST", TOKEN, content=body, headers={"Content-Type": FORM, **auth(server)})

    response = await server.http.send(request)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " 12", "99999999999999999999999"])
async def test_malformed_content_length_is_refused(server: Server, length: str) -> None:
    request = server.http.build_request(
        "POST", TOKEN, content=b"grant_type=client_credentials", headers={"Content-Type": FORM, **auth(server)}
    )
    request.headers["Content-Length"] = length

    response = await server.http.send(request)

    assert response.status_code in (400, 413)
    assert_error(response, "invalid_request", response.status_code)


async def test_limit_follows_the_setting(make_server: MakeServer) -> None:
    server = await make_server(max_body_size=2048)

    assert (await send(server, TOKEN, padded(TOKEN, 2048))).status_code == 200
    assert_error(await send(server, TOKEN, padded(TOKEN, 2049)), "invalid_request", 413)


# -- headers ---------------------------------------------------------------------------------------


async def test_odd_headers_do_not_break_anything(server: Server) -> None:
    odd = [
        [(b"Content-Type", b"application/x-www-form-urlencoded; charset=\xff")],
        [(b"Content-Type", b"\xe9\xe9")],
        [(b"Content-Type", FORM.encode()), (b"Content-Type", b"text/plain")],
        [(b"Content-Type", FORM.encode()), (b"Authorization", b"\x00\x01")],
        [(b"Content-Type", FORM.encode()), (b"Authorization", b"Basic"), (b"Authorization", b"Basic")],
        [(b"Content-Type", FORM.encode()), (b"X-Forwarded-For", b"\xff" * 3000)],
    ]
    for headers in odd:
        response = await server.http.post(TOKEN, content=b"grant_type=client_credentials", headers=headers)
        assert 400 <= response.status_code < 500, (headers, response.status_code)
        assert "error" in response.json()


# -- no input gives a 500 --------------------------------------------------------------------------

_PIECES = [
    b"grant_type=",
    b"client_credentials",
    b"password",
    b"refresh_token",
    b"&",
    b"=",
    b"+",
    b"%",
    b"%2",
    b"%41",
    b"%ff",
    b"%00",
    b"\x00",
    b"\xff",
    "é".encode(),
    b"scope=",
    b"read",
    b'"',
    b"\\",
    b"token=",
    b"token_type_hint=",
    b"client_id=",
    b"m2m",
    b"client_secret=",
    b"username=alice",
    b"password=wonderland",
    b"AAAAAAAAAAAAAAAAAAAAAA.",
    b"B" * 43,
    b";",
    b"\r\n",
]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_random_bodies_never_cause_a_500(make_server: MakeServer, path: str) -> None:
    server = await make_server(enable_password_grant=True)
    rng = random.Random(f"asgi_oauth:{path}")  # fixed seed: a failure reproduces
    statuses: set[int] = set()
    for _ in range(150):
        body = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 12)))
        response = await send(server, path, body, authorization="" if rng.random() < 0.7 else None)
        statuses.add(response.status_code)
        assert response.status_code < 500, (body, response.text)
        if response.status_code != 200:
            assert "error" in response.json(), body
    assert statuses - {200}
