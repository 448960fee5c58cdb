"""The request and response shapes every part of the harness speaks: apps, transports and load generators.

One plain description of a request lets the same scenario be verified in-process, over HTTP with httpx,
and replayed by wrk or the Python load generator without any of them knowing about the others.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Req:
    """One HTTP request; ``path`` may carry a query string."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def with_body(self, body: bytes) -> Req:
        return Req(self.method, self.path, self.headers, body)


@dataclass(slots=True)
class Resp:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    def short(self) -> str:
        """Status and the start of the body, for error messages."""
        text = self.body[:300].decode("utf-8", "replace")
        return f"HTTP {self.status} {text!r}"


class Transport(Protocol):
    """Sends one request to an app and returns its answer (in-process ASGI call or real HTTP)."""

    async def send(self, req: Req) -> Resp: ...


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1: both parts form-url-encoded before Base64."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def form_post(path: str, params: dict[str, str], *, auth: str | None = None) -> Req:
    headers: list[tuple[str, str]] = [("content-type", FORM)]
    if auth is not None:
        headers.append(("authorization", auth))
    return Req("POST", path, tuple(headers), urlencode(params).encode())


def bearer_get(path: str, token: str) -> Req:
    return Req("GET", path, (("authorization", f"Bearer {token}"),))
