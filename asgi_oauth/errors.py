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
    """An OAuth error response (RFC 6749 section 5.2): raise one from a hook or grant and the server answers with
    its ``error`` code, HTTP status and headers; ``description`` becomes ``error_description``."""

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
    """``invalid_request`` (400): a parameter is missing, repeated or malformed."""

    error = "invalid_request"


class RequestTooLarge(InvalidRequest):
    status_code = 413


class MethodNotAllowed(InvalidRequest):
    status_code = 405

    def __init__(self, allow: str) -> None:
        super().__init__(f"method not allowed; use {allow}", headers={"Allow": allow})


class InvalidClient(OAuthError):
    """``invalid_client`` (401, with a Basic challenge): the client could not be authenticated."""

    error = "invalid_client"
    status_code = 401

    def __init__(self, description: str, *, realm: str) -> None:
        super().__init__(description, headers={"WWW-Authenticate": f'Basic realm="{realm}"'})


class InvalidGrant(OAuthError):
    """``invalid_grant``: the code, refresh token or credentials are invalid, expired, revoked or someone else's."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """``unauthorized_client``: the client is not registered for this grant or response type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """``unsupported_grant_type``: no grant of that name is switched on."""

    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    """``unsupported_response_type``: the authorization endpoint does not offer that ``response_type``."""

    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    """``invalid_scope``: the scope asked for is malformed or beyond what the client may have."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 section 2: the requested resource is invalid, unknown or not one this server issues for."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    """``access_denied``: the user (or a feature's policy) refused; usually redirected to the client, so its
    status is rarely seen."""

    error = "access_denied"
    status_code = 403


class TooManyAttempts(OAuthError):
    """429 with ``Retry-After``: too many failed attempts for this principal or address (see the rate limit
    settings). Its code is ``temporarily_unavailable``, the closest RFC 6749 has."""

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
    """``server_error`` (500): something failed that the client cannot fix."""

    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(OAuthError):
    """``temporarily_unavailable`` (503): the store cannot be reached; the client may retry later."""

    error = "temporarily_unavailable"
    status_code = 503
