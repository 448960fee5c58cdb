"""The properties every answer must have, whatever was sent. Each takes the response and what was sent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from ..web.helpers import Registered
from .harness import BASE_URL, LOGIN_URL, MOUNTS, USER_HEADER

# RFC 6749 section 5.2, plus RFC 7009 section 2.2.1, RFC 8707 section 2 and RFC 8628 section 3.5;
# temporarily_unavailable answers 429 (and 503).
FORM_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "temporarily_unavailable",
    "invalid_target",
    "authorization_pending",
    "slow_down",
    "expired_token",
    "access_denied",
}
# RFC 6749 section 4.1.2.1 (and 4.2.2.1 for the implicit grant).
AUTHORIZE_ERRORS = {
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_target",
}
# OpenID Connect Core 1.0 section 3.1.2.6, where OpenID Connect is on.
OPENID_ERRORS = {
    "login_required",
    "consent_required",
    "account_selection_required",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
}
# RFC 6750 section 3.1; "unauthorized" is the documented body when no token was sent (the challenge then
# carries no error code, as RFC 6750 section 3.1 asks).
BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*")
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
PAGE_STATUSES = {200, 400, 405, 413}
Headers = list[tuple[bytes, bytes]]


def header_values(headers: Headers, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def first_header(headers: Headers, name: bytes) -> str | None:
    values = header_values(headers, name)
    return values[0] if values else None


#: What a header value may hold on the wire (RFC 9110 section 5.5): visible ASCII, space and tab. A Location
#: with raw non-ASCII, or a CR or LF from the request, would break or split the response.
HEADER_VALUE = re.compile(rb"[\x20-\x7e\t]*")


def no_server_error(response: httpx.Response) -> None:
    """Not a 5xx, no traceback, and every header fit for the wire."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:800]}"
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    for name, value in response.headers.raw:
        assert HEADER_VALUE.fullmatch(value), (name, value[:200])


def rfc_error(response: httpx.Response, allowed: set[str]) -> dict[str, Any]:
    """A JSON error object: ``error`` from ``allowed``, and a description in the RFC 6749 character set."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("error") in allowed, body
    assert set(body) <= {"error", "error_description", "error_uri", "scope"}, body
    description = body.get("error_description")
    if description is not None:
        assert isinstance(description, str) and DESCRIPTION.fullmatch(description), body
    return body


def html_page(response: httpx.Response, method: str) -> None:
    """A page a person sees (error, consent, device): HTML, never framed, never cached, no redirect."""
    assert "location" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    if method != "HEAD":
        assert response.headers["content-type"].startswith("text/html"), response.headers


def form_endpoint(response: httpx.Response, endpoint: str, method: str, headers: Headers) -> None:
    """/token, /introspect and /revoke: a success of the right shape or an RFC 6749 section 5.2 error."""
    no_server_error(response)
    status = response.status_code
    assert status in {200, 400, 401, 405, 413, 429}, (status, response.text[:300])
    if status == 405:
        assert method != "POST"
        assert response.headers["allow"] == "POST"
    if method == "HEAD":
        assert response.content == b""
        return
    if status == 200:
        assert method == "POST"
        SUCCESS[endpoint](response)
        return
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = rfc_error(response, FORM_ERRORS)
    error = body["error"]
    if status == 401:
        assert error == "invalid_client", body
        authorization = first_header(headers, b"authorization")
        if authorization is not None and authorization[:6].lower() == "basic ":
            # RFC 6749 section 5.2: Basic was tried, so the answer challenges for Basic.
            assert response.headers["www-authenticate"].startswith('Basic realm="'), response.headers
    elif status == 429:
        assert error == "temporarily_unavailable", body
        assert int(response.headers["retry-after"]) >= 1
    elif status in (405, 413):
        assert error == "invalid_request", body
    else:
        assert error not in ("invalid_client", "temporarily_unavailable"), body


def token_success(response: httpx.Response) -> None:
    body = response.json()
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert all(SCOPE_TOKEN.fullmatch(s) for s in body["scope"].split()), body
    assert ("refresh_token" in body) == ("refresh_token_expires_in" in body)
    assert response.headers["cache-control"] == "no-store"


def introspect_success(response: httpx.Response) -> None:
    body = response.json()
    assert isinstance(body["active"], bool), body
    if not body["active"]:
        assert body == {"active": False}
        return
    assert body["token_type"] in ("Bearer", "refresh_token")
    assert set(body) <= {"active", "scope", "client_id", "sub", "username", "token_type", "exp", "iat", "iss"}


def revoke_success(response: httpx.Response) -> None:
    assert response.content == b""


USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


def device_authorization_success(response: httpx.Response) -> None:
    """RFC 8628 section 3.2."""
    body = response.json()
    names = {"device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"}
    assert set(body) == names, body
    assert USER_CODE.fullmatch(body["user_code"]), body
    assert body["verification_uri_complete"].startswith(body["verification_uri"] + "?user_code="), body


SUCCESS = {
    "token": token_success,
    "introspect": introspect_success,
    "revoke": revoke_success,
    "device_authorization": device_authorization_success,
}

# RFC 7591 section 3.2.2, RFC 6750 for the initial access token; the limits answer temporarily_unavailable.
REGISTRATION_ERRORS = {
    "invalid_request",
    "invalid_client_metadata",
    "invalid_redirect_uri",
    "invalid_token",
    "temporarily_unavailable",
}


def registration(response: httpx.Response, method: str) -> dict[str, Any] | None:
    """/register: 201 with the registered client (RFC 7591 section 3.2.1) or an error; the client, if any."""
    no_server_error(response)
    status = response.status_code
    assert status in {201, 400, 401, 405, 413, 429, 503}, (status, response.text[:300])
    assert response.headers["cache-control"] == "no-store"
    if method == "HEAD":
        return None
    if status == 201:
        assert method == "POST"
        body: dict[str, Any] = response.json()
        assert isinstance(body["client_id"], str) and body["client_id"].isascii(), body
        assert all(isinstance(uri, str) for uri in body["redirect_uris"]), body
        assert all(SCOPE_TOKEN.fullmatch(s) for s in body.get("scope", "").split()), body
        return body
    if status == 405:
        assert method != "POST" and response.headers["allow"] == "POST"
    rfc_error(response, REGISTRATION_ERRORS)
    return None


# -- /authorize --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """An /authorize request whose parameters are known exactly (each name once, no NUL)."""

    params: Mapping[str, str]

    def get(self, name: str) -> str | None:
        return self.params.get(name) or None


def _loopback_parts(uri: str) -> tuple[str | None, str, str] | None:
    """(host, path, query) of an http loopback IP literal URI without userinfo or fragment, else ``None``. A space
    or control character makes no URI (RFC 3986 section 2), though urlsplit would drop or keep it silently."""
    if any(c <= " " or c == "\x7f" for c in uri):
        return None
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1") or "@" in parts.netloc:
        return None
    if parts.fragment:
        return None
    return parts.hostname, parts.path, parts.query


def trusted_redirect(client: Registered | None, given: str | None) -> str | None:
    """The redirect URI the RFCs allow for ``given`` (exact match, or any loopback port for public clients)."""
    if client is None:
        return None
    uris = client.client.redirect_uris
    if given is None:
        return uris[0] if len(uris) == 1 else None
    if given in uris:
        return given
    loop = _loopback_parts(given)
    if client.client.public and loop is not None and any(_loopback_parts(u) == loop for u in uris):
        return given
    return None


def on_the_wire(uri: str) -> str:
    """``uri`` as a Location header carries it: characters a URI cannot hold percent-encoded as UTF-8 (RFC 3987
    section 3.1), the rest as registered."""
    return quote(uri, safe="%:/?#[]@!$&'()*+,;=")


def _response_params(location: str, registered: Iterable[str]) -> dict[str, str] | None:
    """The parameters the server added to one of ``registered`` to make ``location``; ``None`` if none fits."""
    for uri in map(on_the_wire, registered):
        for joiner in ("&" if "?" in uri else "?", "#"):
            if location.startswith(uri + joiner):
                return dict(parse_qsl(location[len(uri) + 1 :], keep_blank_values=True))
        loop, here = _loopback_parts(uri), urlsplit(location)
        if loop is not None and here.scheme == "http" and (here.hostname, here.path) == loop[:2]:
            added = here.query[len(loop[2]) :].lstrip("&") if here.query.startswith(loop[2]) else None
            if added is not None and "@" not in here.netloc:
                return dict(parse_qsl(added or here.fragment, keep_blank_values=True))
    return None


def authorize(
    response: httpx.Response,
    *,
    mount: str,
    method: str,
    headers: Headers,
    clients: Mapping[str, Registered],
    sent: Sent | None,
) -> None:
    """/authorize: an HTML page (400 before the redirect URI is trusted) or a redirect to a registered URI."""
    no_server_error(response)
    status = response.status_code
    allowed = {"GET": {200, 302, 400}, "POST": {200, 302, 303, 400, 413}}.get(method, {405})
    assert status in allowed, (method, status, response.text[:300])
    if status in PAGE_STATUSES:
        html_page(response, method)
    client = clients.get(sent.get("client_id") or "") if sent is not None else None
    trusted = trusted_redirect(client, sent.get("redirect_uri")) if sent is not None else None
    # A request (not a consent form, whose token may have expired) the server read whole.
    exact = sent is not None and status != 413 and (method == "GET" or "csrf_token" not in sent.params)
    if exact and trusted is None:
        # RFC 6749 section 4.1.2.1 and SPEC: unknown client or unregistered URI -> a page, never a redirect.
        assert status == 400, (status, response.headers.get("location"))
    if exact and trusted is not None:
        # Once the redirect URI is trusted, errors go back to the client.
        assert status in (200, 302, 303), (status, response.text[:300])
    if status not in (302, 303):
        return
    location = response.headers["location"]
    user = first_header(headers, USER_HEADER.encode())
    openid = bool(MOUNTS[mount].get("enable_oidc"))
    if location.startswith(LOGIN_URL + "?"):
        login = parse_qsl(urlsplit(location).query)
        # A signed-in user is sent back to sign in only by OpenID Connect (prompt=login, max_age).
        assert not user or (openid and ("prompt", "login") in login), location
        (next_url,) = [v for k, v in login if k == "next"]
        assert next_url.startswith(f"{mount}/authorize?"), location
        return
    registered = [trusted] if trusted is not None else [u for c in clients.values() for u in c.client.redirect_uris]
    added = _response_params(location, registered)
    assert added is not None, f"redirect to an unregistered URI: {location}"
    assert added.get("iss") == BASE_URL + mount, location
    if "error" in added:
        assert added["error"] in (AUTHORIZE_ERRORS | OPENID_ERRORS if openid else AUTHORIZE_ERRORS), location
        assert DESCRIPTION.fullmatch(added.get("error_description", "")), location
    else:
        assert "code" in added or "access_token" in added, location
    if sent is not None:
        assert added.get("state") == sent.get("state"), (location, sent.get("state"))


# -- the bearer middleware ---------------------------------------------------------------------------


def presented_token(headers: Headers, query: bytes) -> str | None:
    """What RFC 6750 says was presented: a Bearer Authorization header if any, else ``access_token``.

    (Both at once is refused with 400, which the caller's status checks cover.)"""
    authorization = first_header(headers, b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip()
    for pair in query.split(b"&"):
        if pair.startswith(b"access_token="):
            return pair[len(b"access_token=") :].decode("latin-1")
    return None


def presented_twice(headers: Headers, query: bytes) -> bool:
    """A Bearer header and an ``access_token`` query parameter at once (RFC 6750 section 2 forbids it)."""
    authorization = first_header(headers, b"authorization")
    in_header = authorization is not None and authorization.partition(" ")[0].lower() == "bearer"
    return in_header and any(pair.startswith(b"access_token=") for pair in query.split(b"&"))


def bearer(response: httpx.Response, *, method: str, headers: Headers, query: bytes, live: Mapping[str, str]) -> None:
    """RFC 6750: 200 only for a live token; otherwise 400/401/403 JSON with the matching challenge."""
    no_server_error(response)
    assert response.status_code in {200, 400, 401, 403}, (response.status_code, response.text[:300])
    twice = presented_twice(headers, query)
    refusal(response, method=method, presented=presented_token(headers, query), twice=twice, live=set(live.values()))
    if response.status_code == 200 and method != "HEAD":
        body = response.json()
        assert "client_id" in body or body == {"ok": True}, body


def userinfo(response: httpx.Response, *, method: str, headers: Headers, body_token: str | None, live: str) -> None:
    """OpenID Connect Core 5.3: the released claims for the live token granted ``openid``, else RFC 6750.

    The token travels in the header or, for POST, as the ``access_token`` form field (``body_token``).
    """
    no_server_error(response)
    status = response.status_code
    assert status in {200, 400, 401, 403, 405, 413}, (status, response.text[:300])
    if status in (405, 413):
        assert status == 413 or (method not in ("GET", "POST") and response.headers["allow"] == "GET, POST")
        if method != "HEAD":
            rfc_error(response, {"invalid_request"})
        return
    in_header = presented_token(headers, b"")
    presented, twice = in_header if in_header is not None else body_token, None not in (in_header, body_token)
    refusal(response, method=method, presented=presented, twice=twice, live={live})
    if status == 200:
        # Only what the scopes release: never the host's extra claims.
        assert set(response.json()) <= {"sub", "name", "email", "email_verified"}, response.json()


def refusal(response: httpx.Response, *, method: str, presented: str | None, twice: bool, live: set[str]) -> None:
    """What RFC 6750 says of a token ``presented`` (``twice``: sent two ways at once): a 200 only for one of
    ``live``, else 400/401/403 JSON with the matching ``Bearer`` challenge."""
    status = response.status_code
    if twice:
        assert status == 400, (status, response.text[:300])
        return
    if status == 200:
        assert presented in live, presented
        return
    if presented in live:
        assert status == 403, (status, response.text)
    assert response.headers["cache-control"] == "no-store"
    challenge = response.headers.get("www-authenticate", "")
    if method == "HEAD":
        assert status != 401 or challenge.startswith('Bearer realm="'), challenge
        return
    body = rfc_error(response, BEARER_ERRORS | {"unauthorized"})
    if status == 401:
        assert challenge.startswith('Bearer realm="'), challenge
        if presented is None:
            assert body["error"] == "unauthorized" and "error=" not in challenge, (body, challenge)
        else:
            assert body["error"] == "invalid_token" and 'error="invalid_token"' in challenge, (body, challenge)
    elif status == 403:
        assert body["error"] == "insufficient_scope" and 'error="insufficient_scope"' in challenge
    else:
        assert body["error"] == "invalid_request", body
        assert 'error="invalid_request"' in challenge and challenge.startswith('Bearer realm="'), challenge
        assert presented is not None
