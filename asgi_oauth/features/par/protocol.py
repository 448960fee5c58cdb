"""Pushed authorization requests (RFC 9126), without HTTP: push one, resolve its ``request_uri``, spend it.

Choices where the RFC leaves them open (the documentation's "Pushed authorization requests"):

- At ``/authorize`` only the pushed parameters are used; anything else in the query but ``client_id`` and
  ``request_uri`` is ignored (RFC 9126 section 4, as RFC 9101 section 6.3 does for request objects).
- A ``request_uri`` may be shown again (a reload, a sign-in on the way) until the request is answered; the
  answer (a code or the denial) takes it atomically, so it is answered once (section 4 allows reloads).
- Request objects (``request``) are not supported, so a pushed ``request`` is ``invalid_request``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

from ...errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from ...models import Client
from ...protocol.authorize import ErrorPage, RedirectError, ResponseTypeSpec, validate
from ...protocol.client_auth import authenticate
from ...protocol.context import Context
from ...protocol.params import Incoming, Params
from .settings import ParSettings
from .store import PushedRequest, PushedRequestStore

#: RFC 9126 section 2.2: the ``request_uri`` prefix of a pushed request's reference.
URN = "urn:ietf:params:oauth:request_uri:"
#: What a client may not push: its own credentials are not part of the request, and no nested references.
_CREDENTIALS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_ERRORS: Mapping[str, type[OAuthError]] = {
    e.error: e for e in (InvalidRequest, UnauthorizedClient, UnsupportedResponseType, InvalidScope, InvalidTarget)
}


class TooManyPushes(OAuthError):
    """A client pushed too many requests this minute: 429 with ``Retry-After``; other clients go on."""

    error = "temporarily_unavailable"
    status_code = 429


def digest(request_uri: str) -> str:
    """What is stored instead of the ``request_uri`` (256 random bits: a plain SHA-256 is enough)."""
    return hashlib.sha256(request_uri.encode("utf-8", "surrogatepass")).hexdigest()


def must_push(client: Client) -> Client:
    """``client``, marked as having to push every authorization request (the flag :func:`required` reads)."""
    return replace(client, extra={**client.extra, "par": {"require": True}})


def required(settings: ParSettings, client: Client) -> bool:
    """Whether ``client`` must push its requests: all must when the server says so, else the client's flag."""
    flags = client.extra.get("par")
    return settings.required or (isinstance(flags, Mapping) and flags.get("require") is True)


async def push(
    ctx: Context,
    store: PushedRequestStore,
    settings: ParSettings,
    response_types: Mapping[str, ResponseTypeSpec],
    request: Incoming,
) -> dict[str, str | int]:
    """RFC 9126 section 2: authenticate the client, validate its request as ``/authorize`` would, keep it."""
    client = await authenticate(ctx, request)
    params = dict(request.params.items())
    if "request_uri" in request.params:
        raise InvalidRequest("request_uri must not be pushed")
    if "request" in request.params:
        raise InvalidRequest("request objects are not supported")
    pushed = {k: v for k, v in params.items() if k not in _CREDENTIALS and v}
    pushed["client_id"] = client.client_id
    await _check(ctx, Params(pushed), response_types)
    request_uri = URN + secrets.token_urlsafe(32)
    lifetime = settings.request_uri_lifetime
    record = PushedRequest(client.client_id, pushed, ctx.clock() + lifetime)
    if not await store.push_request(digest(request_uri), record, limit=settings.pushes_per_minute, window=60):
        raise TooManyPushes("too many pushed requests; retry in 60 seconds", headers={"Retry-After": "60"})
    return {"request_uri": request_uri, "expires_in": round(lifetime)}


async def _check(ctx: Context, params: Params, response_types: Mapping[str, ResponseTypeSpec]) -> None:
    """The request as ``/authorize`` validates it, its errors answered as JSON (section 2.3)."""
    try:
        await validate(ctx, params, response_types)
    except ErrorPage as page:
        raise InvalidRequest(page.message.rstrip(".")) from None
    except RedirectError as refused:
        parts = urlsplit(refused.redirect.url)
        answer = dict(parse_qsl(parts.fragment or parts.query))
        error = _ERRORS.get(answer.get("error", ""), InvalidRequest)
        raise error(answer.get("error_description", "")) from None


async def resolve(ctx: Context, store: PushedRequestStore, settings: ParSettings, params: Params) -> Params | None:
    """The pushed parameters a ``request_uri`` names, or ``None`` for a request that pushed nothing (then
    refused if its client must push). Raises :class:`ErrorPage`: no redirect URI is trusted yet."""
    client_id = params.get("client_id")
    request_uri = params.get("request_uri")
    if request_uri is None:
        client = None if client_id is None else await ctx.clients.get(client_id)
        if client is not None and required(settings, client):
            raise ErrorPage("This application must push its authorization request first (PAR, RFC 9126).")
        return None
    if client_id is None:
        raise ErrorPage("The request has a request_uri but no client_id.")
    found = await store.get_request(client_id, digest(request_uri)) if request_uri.startswith(URN) else None
    if found is None:
        raise ErrorPage("The authorization request has expired or was already used. Go back and try again.")
    return Params(dict(found.params))


async def spend(store: PushedRequestStore, continuation: Mapping[str, str]) -> None:
    """Take the pushed request being answered, so its ``request_uri`` is answered once."""
    if await store.take_request(continuation["client_id"], digest(continuation["request_uri"])) is None:
        raise ErrorPage("The authorization request has expired or was already used. Go back and try again.")
