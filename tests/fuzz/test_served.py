"""Hostile requests to ``asgi-oauth serve`` over one keep-alive connection: each one answered (never a 5xx)
and the connection kept open for the next, as uvicorn does only when the app did not fail.

In-process tests cannot see this: there an application error is an exception, here it is a 500 and a
connection the server closes. The requests are the kinds the fuzzing found failing, sent as a client's bytes.
(Not a query of raw non-ASCII bytes: uvicorn's h11 refuses those itself, though its httptools passes them on.)
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import quote, urlencode

from ..serving import serving, settings_env
from .harness import pkce_pair

TIMEOUT = 10.0


def exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request, read one response (status, lower-case headers, body of its Content-Length)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {request[:120]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def http(method: str, target: bytes, headers: dict[str, bytes] | None = None, body: bytes = b"") -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"", b""]
    return b"\r\n".join(lines) + body


def test_hostile_requests_keep_the_connection(tmp_path: Path) -> None:
    env = settings_env(
        enable_oidc="true",
        enable_device_authorization="true",
        enable_dynamic_registration="true",
        dynamic_registration_scopes="read",
    )
    with serving(tmp_path, env) as server:
        site = server.base_url
        authorize = {"response_type": "code", "client_id": "demo-client", "redirect_uri": f"{site}/callback"}
        authorize |= {"code_challenge": pkce_pair("v" * 43), "code_challenge_method": "S256"}
        openid = urlencode({**authorize, "scope": "openid", "nonce": "n\u00f6nce \U0001f600"}).encode()
        form = {"content-type": b"application/x-www-form-urlencoded"}
        requests = [
            # OpenID Connect, nobody signed in, a nonce in any script: to the sign-in page.
            (http("GET", b"/oauth/authorize?" + openid), {302}),
            # The device page with a code in another script.
            (http("GET", b"/oauth/device?user_code=" + quote("\uff22\uff23-\u00df").encode()), {200, 302}),
            # A registration whose JSON escapes are no text, and one nested deeper than the parser goes.
            (http("POST", b"/oauth/register", {"content-type": b"application/json"}, b'{"x": "\\ud800"}'), {400}),
            (http("POST", b"/oauth/register", {"content-type": b"application/json"}, b"[" * 5000), {400}),
            # Latin-1 bytes where a token goes, at the middleware and at userinfo.
            (http("GET", b"/api/me", {"authorization": b"Bearer \xe9\xff"}), {400, 401}),
            (http("GET", b"/oauth/userinfo", {"authorization": b"Bearer \xe9\xff"}), {400, 401}),
            # The sign-in form with a next in any script, and the demo client's start with a raw query.
            (http("POST", b"/login", form, urlencode({"next": "/\u202e\U0001f600", "username": "x"}).encode()), {401}),
            (http("POST", b"/oauth/token", form, b"grant_type=client_credentials&client_id=%ff%fe"), {400, 401}),
        ]
        with socket.create_connection(("127.0.0.1", int(site.rsplit(":", 1)[1])), timeout=TIMEOUT) as sock:
            for request, expected in requests:
                status, headers, body = exchange(sock, request)
                assert status in expected, (request[:120], status, body[:300])
                assert headers.get(b"connection", b"").lower() != b"close", request[:120]
            # Still the same connection, still serving.
            status, _, body = exchange(sock, http("GET", b"/oauth/health/live"))
            assert status == 200 and json.loads(body) == {"status": "ok"}
