"""OAuth errors as data: each knows its RFC code, HTTP status and extra headers.

    OAuthError                      RFC 6749 section 5.2 / 4.1.2.1 error responses
    ├── InvalidRequest              400
    │   ├── RequestTooLarge         413  (body over max_body_size)
    │   └── MethodNotAllowed        405  (with Allow)
    ├── InvalidClient               401  (with WWW-Authenticate: Basic, as RFC 9110 requires of every 401)
    ├── InvalidGrant                400
    ├── UnauthorizedClient          400
    ├── UnsupportedGrantType        400
    ├── UnsupportedResponseType     400
    ├── InvalidScope                400
    ├── InvalidTarget               400  (RFC 8707: a resource the server issues no tokens for)
    ├── AccessDenied                403  (redirected, so the status is rarely seen)
    ├── TooManyAttempts             429  (failed attempts over the limit, with Retry-After)
    ├── ServerError                 500
    └── TemporarilyUnavailable      503  (the store is unreachable)

Descriptions are restricted to the RFC 6749 section 5.2 character set so they can be put into
redirect query strings and JSON alike without escaping surprises.
"""

from __future__ import annotations

import re
from typing import ClassVar

_DESCRIPTION_OK = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")


def describable(text: str) -> str:
    """``text`` with what RFC 6749 section 5.2 does not allow in an ``error_description`` left out: for words that
    come from elsewhere (a parameter's name, a library's message)."""
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str = "", *, headers: dict[str, str] | None = None) -> None:
        if not _DESCRIPTION_OK.match(description):
            raise ValueError(f"error_description has characters outside RFC 6749 section 5.2: {description!r}")
        super().__init__(description or self.error)
        self.description = description
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"


class RequestTooLarge(InvalidRequest):
    status_code = 413


class MethodNotAllowed(InvalidRequest):
    status_code = 405

    def __init__(self, allow: str) -> None:
        super().__init__(f"method not allowed; use {allow}", headers={"Allow": allow})


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401

    def __init__(self, description: str, *, realm: str) -> None:
        super().__init__(description, headers={"WWW-Authenticate": f'Basic realm="{realm}"'})


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 section 2: the requested resource is invalid, unknown or not one this server issues for."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403


class TooManyAttempts(OAuthError):
    # RFC 6749 has no code for rate limiting; temporarily_unavailable is the closest, and the status
    # and Retry-After header carry the rest.
    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed attempts; retry in {retry_after} seconds", headers={"Retry-After": str(retry_after)}
        )
        self.retry_after = retry_after


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
