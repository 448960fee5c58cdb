"""The documents every mount serves (metadata, OpenAPI, JWKS, health, metrics), and paths the server does not have,
under odd methods, headers, query strings and paths made of any Unicode."""

from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from . import checks
from .conftest import budget
from .harness import FULL, MOUNTS, Fuzz
from .strategies import AWKWARD, METHODS, junk_headers

#: path -> (the mounts that serve it, the start of its media type)
DOCUMENTS = {
    "/.well-known/oauth-authorization-server": (set(MOUNTS), "application/json"),
    "/.well-known/openid-configuration": (set(MOUNTS), "application/json"),
    "/openapi.json": (set(MOUNTS), "application/json"),
    "/health/live": (set(MOUNTS), "application/json"),
    "/health/ready": (set(MOUNTS), "application/json"),
    "/jwks": ({FULL}, "application/jwk-set+json"),
    "/metrics": ({FULL}, "text/plain"),
}
ELSEWHERE = ["/", "/tokens", "/token/", "/authorize/x", "/.well-known/", "/%00", "/openapi.json/x", "/jwks/"]
#: Path text as a server hands it to the app (percent-decoded): anything, separators and dot segments included.
path_text = st.text(alphabet=st.sampled_from(AWKWARD + "/.%") | st.characters(codec="utf-8"), max_size=40)


def served(response: httpx.Response, mount: str, path: str, method: str) -> None:
    """A document: 200 to GET and HEAD where the mount serves it, an RFC-shaped 405 or 404 otherwise."""
    checks.no_server_error(response)
    mounts, media_type = DOCUMENTS.get(path, (set(), ""))
    if mount not in mounts:
        assert response.status_code in (404, 405), response.status_code
    elif method in ("GET", "HEAD"):
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["content-type"].startswith(media_type), response.headers
        if method == "GET":
            assert response.content
        return
    else:
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
    if method != "HEAD":
        checks.rfc_error(response, {"invalid_request"})


@budget(60)
@given(
    mount=st.sampled_from(sorted(MOUNTS)),
    path=st.sampled_from(sorted(DOCUMENTS) + ELSEWHERE),
    method=st.sampled_from(["GET", "HEAD", "POST", *METHODS]),
    junk=junk_headers(),
    query=st.binary(max_size=60),
)
async def test_documents_and_unknown_paths(
    fuzz: Fuzz, mount: str, path: str, method: str, junk: list[tuple[bytes, bytes]], query: bytes
) -> None:
    """Documents: 200 to GET and HEAD, an RFC-shaped 405 otherwise; elsewhere an RFC-shaped 404."""
    fuzz.example()
    response = await fuzz.request(method, mount + path, headers=junk, query=query)
    served(response, mount, path, method)


#: Every route a mount has, for the paths test to land on (and near) them.
ROUTES = [*DOCUMENTS, "/authorize", "/token", "/device", "/device_authorization", "/register", "/userinfo"]


@budget(100)
@given(
    mount=st.sampled_from(["", "/api", *sorted(MOUNTS)]),
    path=st.sampled_from(ROUTES) | path_text.map(lambda t: "/" + t),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
    query=st.binary(max_size=40),
)
async def test_any_path_and_query(fuzz: Fuzz, mount: str, path: str, method: str, query: bytes) -> None:
    """Any text as the path (under a mount, under the protected /api, or beside them) and any bytes as the
    query string, as a server hands both on."""
    fuzz.example()
    response = await fuzz.request(method, "/", raw_path=mount + path, query=query)
    checks.no_server_error(response)
    if mount in MOUNTS and path in DOCUMENTS:
        served(response, mount, path, method)
