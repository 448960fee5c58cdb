"""CORS for the endpoints browser-based clients (the MCP inspector, single-page apps) call from script.

Metadata documents, protected resource metadata, ``/token``, ``/revoke`` and registration allow any origin
without credentials: none of them reads a cookie, so ``*`` exposes nothing a script could not fetch from a
server anyway. ``/authorize`` (a top-level navigation) and ``/introspect`` (server to server) get none.

Documents carry the headers on every answer, since a cache may keep one answer for every origin. The
back-channel endpoints' answers are never cached (``no-store``), so they carry them only for a request with
an ``Origin`` header, which a browser sends on every cross-origin call from script: the machine-to-machine
clients that make most token requests get two headers less, each checked and written by the HTTP server on
every answer (timed in benchmarks/PROFILE.md).

Raw ASGI with header lists built once: the token endpoint is on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import header

RawHeaders = list[tuple[bytes, bytes]]

ALLOW_HEADERS = "Authorization, Content-Type, MCP-Protocol-Version"
#: How long a browser may reuse a preflight answer (browsers cap it: Chromium at 2 hours).
MAX_AGE = 7200
#: What every actual (non-preflight) answer of a CORS endpoint carries; scripts may read the challenge.
RESPONSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"WWW-Authenticate"),
)


def from_origin(scope: Scope) -> bool:
    """Whether the request names an ``Origin``, as a browser's cross-origin request from script does."""
    return header(scope, b"origin") is not None


def is_preflight(scope: Scope) -> bool:
    """An ``OPTIONS`` request is a CORS preflight when it names the method to come; a bare one is not,
    and gets the endpoint's usual 405."""
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def preflight_headers(methods: Iterable[str]) -> RawHeaders:
    """The answer to an ``OPTIONS`` preflight for an endpoint accepting ``methods``."""
    allowed = ", ".join(dict.fromkeys([*methods, "OPTIONS"]))
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", allowed.encode("latin-1")),
        (b"access-control-allow-headers", ALLOW_HEADERS.encode("latin-1")),
        (b"access-control-max-age", str(MAX_AGE).encode("latin-1")),
        (b"allow", allowed.encode("latin-1")),
        (b"content-length", b"0"),
    ]


async def send_preflight(send: Send, headers: RawHeaders) -> None:
    """``204 No Content`` with ``headers`` (from :func:`preflight_headers`)."""
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class CORS:
    """Wrap an ASGI app serving ``methods``: ``OPTIONS`` answers the preflight, every other answer gets
    :data:`RESPONSE_HEADERS`. For documents and the like; back-channel endpoints add the headers themselves."""

    __slots__ = ("app", "preflight")

    def __init__(self, app: ASGIApp, methods: Iterable[str] = ("GET", "HEAD")) -> None:
        self.app = app
        self.preflight = preflight_headers(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and is_preflight(scope):
            await send_preflight(send, self.preflight)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                message = {**message, "headers": [*headers, *RESPONSE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
