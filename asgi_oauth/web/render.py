"""Turning protocol results and errors into HTTP responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ..errors import OAuthError

#: RFC 6749 section 5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(content, status, headers=headers, media_type="application/json")


def error_response(error: OAuthError) -> Response:
    return json_response(error.body(), error.status_code, {**NO_STORE, **error.headers()})
