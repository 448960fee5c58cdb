"""Drive an ASGI callable directly: no sockets, no server, so CPU time per request is the app's own cost.

The scope is the minimum a Starlette app reads (HTTP/1.1, loopback client and server). ``receive`` hands
over the whole body at once; a second ``receive`` (used only by code watching for disconnects) waits
until the response is complete, as a real server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .messages import Req, Resp

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_CLIENT = ("127.0.0.1", 51000)
_SERVER = ("127.0.0.1", 8000)


def build_scope(req: Req) -> dict[str, Any]:
    """A template scope for ``req``; :func:`call` copies it per request because apps mutate scopes."""
    path, _, query = req.path.partition("?")
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers]
    headers.append((b"host", b"127.0.0.1:8000"))
    if req.body or req.method == "POST":
        headers.append((b"content-length", str(len(req.body)).encode()))
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": _CLIENT,
        "server": _SERVER,
    }


async def call_scope(app: ASGIApp, template: dict[str, Any], body: bytes) -> Resp:
    """Run one request through ``app`` and collect its response."""
    scope = dict(template)
    scope["state"] = {}
    resp = Resp(status=0)
    chunks: list[bytes] = []
    body_sent = False
    finished: asyncio.Event | None = None

    async def receive() -> Message:
        nonlocal body_sent, finished
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if finished is None:
            finished = asyncio.Event()
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            resp.status = message["status"]
            resp.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", ())}
        elif kind == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False) and finished is not None:
                finished.set()

    await app(scope, receive, send)
    resp.body = b"".join(chunks)
    return resp


async def call(app: ASGIApp, req: Req) -> Resp:
    return await call_scope(app, build_scope(req), req.body)


class InProcessTransport:
    """The :class:`~benchmarks.messages.Transport` that calls the ASGI app in this process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def send(self, req: Req) -> Resp:
        return await call(self.app, req)
