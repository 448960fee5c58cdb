"""Raw ASGI for the back-channel endpoints: read a form (or JSON), answer JSON.

Token, introspection and revocation requests come from programs, often thousands a second, so they
skip Starlette's Request/Response objects: the headers they need are read straight from the scope and
the answer goes out as two ASGI messages. Method, content type and size are checked before parsing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from starlette.datastructures import URL
from starlette.types import Receive, Scope, Send

from .. import compact_json
from ..asgi import header as header
from ..asgi import peer as peer
from ..asgi import route_path as route_path
from ..errors import InvalidRequest, MethodNotAllowed, OAuthError, RequestTooLarge
from ..protocol.params import Params, parse_json

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
#: RFC 6749 section 5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_JSON_NO_STORE = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
_DOCUMENT_HEADERS = {"Cache-Control": "public, max-age=300"}

#: Where :func:`send_error` notes the OAuth error code in the ASGI scope, for the metrics to count.
ERROR_KEY = "asgi_oauth.error"


class EncodedJSON(bytes):
    """An answer's JSON already encoded (by an exact template): sent as it is, without a generic JSON pass."""

    __slots__ = ()


class ClientGone(Exception):
    """The client disconnected before its request body arrived; there is nobody to answer."""


async def read_body(scope: Scope, receive: Receive, max_size: int, media_type: str) -> bytes:
    """The request body, which must be of ``media_type``; refused before it is read if too large."""
    sent_type = declared = None
    for name, value in scope["headers"]:  # one pass for both (the first of each counts, as header() reads)
        if name == b"content-type":
            if sent_type is None:
                sent_type = value
        elif name == b"content-length" and declared is None:
            declared = value
    if sent_type != _MEDIA_TYPES.get(media_type) and _media_type(sent_type) != media_type:
        raise InvalidRequest(f"the body must be {media_type}")
    # bytes.isdigit() is ASCII digits only: a str's would accept superscripts and other digits int() refuses.
    if declared is not None and not declared.isdigit():
        raise InvalidRequest("Content-Length must be a number")
    if declared is not None and int(declared) > max_size:
        raise RequestTooLarge(f"the body must be at most {max_size} bytes")
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > max_size:
            raise RequestTooLarge(f"the body must be at most {max_size} bytes")
        if not message.get("more_body", False):
            return body


#: The media types bodies are read as, as a client usually writes them (compared before any decoding).
_MEDIA_TYPES = {FORM_TYPE: FORM_TYPE.encode(), JSON_TYPE: JSON_TYPE.encode()}


def _media_type(sent: bytes | None) -> str:
    """A Content-Type header's media type as RFC 9110 compares it: parameters dropped, case ignored."""
    return (sent or b"").decode("latin-1").partition(";")[0].strip().lower()


async def read_form(scope: Scope, receive: Receive, max_size: int) -> Params:
    """The ``application/x-www-form-urlencoded`` body as :class:`Params`; refused before parsing if too large."""
    return Params.parse(await read_body(scope, receive, max_size, FORM_TYPE))


async def read_json(scope: Scope, receive: Receive, max_size: int) -> Any:
    """The ``application/json`` body, parsed by :func:`parse_json`; what it refuses is ``invalid_request``."""
    body = await read_body(scope, receive, max_size, JSON_TYPE)
    try:
        return parse_json(body)
    except ValueError:
        raise InvalidRequest("the body must be one JSON value in UTF-8, its strings Unicode text") from None


def request_url(scope: Scope) -> URL:
    """The request's URL without its query string: what a page needs (its path, scheme and host) to link back.

    Starlette's ``Request.url`` decodes the query string as strict UTF-8, while servers hand it on as the bytes
    that came; a page that read it would fail for a query of other bytes, which it does not even use.
    """
    return URL(scope={**scope, "query_string": b""})


def encode_json(body: Any) -> bytes:
    return compact_json.dumps(body).encode("utf-8")


async def send_bytes(
    send: Send,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    media_type: str | None,
    head: bool = False,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """``extra``: raw headers built once by the caller (CORS), appended as they are."""
    if headers is NO_STORE and media_type == "application/json":
        raw = [(b"content-length", str(len(content)).encode()), *_JSON_NO_STORE]  # the token endpoints' answer
    else:
        raw = [(b"content-length", str(len(content)).encode())]
        if media_type is not None:
            raw.append((b"content-type", media_type.encode()))
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if extra:
        raw += extra
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else content})


def send_json(
    send: Send, status: int, body: Any, headers: Mapping[str, str] = NO_STORE, extra: Sequence[tuple[bytes, bytes]] = ()
) -> Awaitable[None]:
    """``body`` as JSON; ``None`` sends an empty body (RFC 7009's answer to a revocation). Not a coroutine of its own:
    it hands over :func:`send_bytes`' (one frame less on every answer)."""
    if body is None:
        return send_bytes(send, status, b"", headers, media_type=None, extra=extra)
    if type(body) is EncodedJSON:
        return send_bytes(send, status, body, headers, media_type="application/json", extra=extra)
    return send_bytes(send, status, encode_json(body), headers, media_type="application/json", extra=extra)


async def send_error(send: Send, error: OAuthError, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """RFC 6749 section 5.2: JSON with ``error`` and ``error_description``, never cached."""
    await send_json(send, error.status_code, error.body(), {**NO_STORE, **error.headers()}, extra)


class Document:
    """An ASGI app serving one fixed JSON document (metadata, OpenAPI) to GET and HEAD, cacheable for 5 minutes."""

    __slots__ = ("content",)

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_error(send, MethodNotAllowed("GET, HEAD"))
            return
        await send_bytes(
            send, 200, self.content, _DOCUMENT_HEADERS, media_type="application/json", head=method == "HEAD"
        )
