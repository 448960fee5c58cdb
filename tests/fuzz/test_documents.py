"""The metadata and OpenAPI documents, and paths the server does not have, under odd methods and headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import MOUNTS, Fuzz
from .strategies import METHODS, junk_headers

DOCUMENTS = ["/.well-known/oauth-authorization-server", "/openapi.json"]
ELSEWHERE = ["/", "/tokens", "/token/", "/authorize/x", "/.well-known/", "/%00", "/openapi.json/x"]


@budget(40)
@given(
    mount=st.sampled_from(sorted(MOUNTS)),
    path=st.sampled_from(DOCUMENTS + ELSEWHERE),
    method=st.sampled_from(["GET", "HEAD", "POST", *METHODS]),
    junk=junk_headers(),
    query=st.binary(max_size=60),
)
async def test_documents_and_unknown_paths(
    fuzz: Fuzz, mount: str, path: str, method: str, junk: list[tuple[bytes, bytes]], query: bytes
) -> None:
    """Documents: 200 JSON to GET and HEAD, an RFC-shaped 405 otherwise; elsewhere an RFC-shaped 404."""
    fuzz.example()
    response = await fuzz.request(method, mount + path, headers=junk, query=query)
    checks.no_server_error(response)
    if path not in DOCUMENTS:
        assert response.status_code in (404, 405), response.status_code
    elif method in ("GET", "HEAD"):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        if method == "GET":
            assert response.json()
        return
    else:
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
    if method != "HEAD":
        checks.rfc_error(response, {"invalid_request"})
