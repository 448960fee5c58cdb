"""The demo behind ``asgi-oauth serve`` under hostile input."""

from __future__ import annotations

import pytest

from .harness import BASE_URL, Fuzz
from .strategies import FORM
from .test_authorize import Headers


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/start", 303), ("POST", "/login", 401)])
async def test_a_query_string_that_is_not_utf_8_is_no_reason_to_fail(
    demo: Fuzz, method: str, path: str, status: int
) -> None:
    """/start sets a cookie and /login checks the Origin, both from the request's URL; neither reads the query."""
    headers: Headers = [(b"content-type", FORM.encode()), (b"origin", BASE_URL.encode())]
    body = b"username=alice&password=wrong"
    response = await demo.request(method, path, headers=headers, body=body, query=b"\x80\xff")
    assert response.status_code == status, response.text[:300]
