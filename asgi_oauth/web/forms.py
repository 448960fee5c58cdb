"""Reading a POSTed form safely: method, content type and size are checked before parsing."""

from __future__ import annotations

from starlette.requests import Request

from ..errors import InvalidRequest, MethodNotAllowed, RequestTooLarge
from ..protocol.params import Params

FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request, max_size: int) -> Params:
    if request.method != "POST":
        raise MethodNotAllowed("POST")
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidRequest(f"the body must be {FORM_TYPE}")
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise InvalidRequest("Content-Length must be a number")
    if declared is not None and int(declared) > max_size:
        raise RequestTooLarge(f"the body must be at most {max_size} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_size:
            raise RequestTooLarge(f"the body must be at most {max_size} bytes")
    return Params.parse(bytes(body))
