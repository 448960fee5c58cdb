"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 section 2.3)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import unquote_plus

from .. import crypto
from ..cimd.documents import DocumentError
from ..errors import InvalidClient, InvalidRequest
from ..models import Client
from ..types import AuthMethod
from .context import Context
from .params import Incoming, Params
from .ratelimit import Attempt

# Compared against when the client is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = crypto.hash_secret(crypto.new_client_secret(), generated=True)
_BASIC: AuthMethod = "client_secret_basic"


class Credentials(NamedTuple):
    method: AuthMethod
    client_id: str
    secret: str | None


def credentials(authorization: str | None, params: Params, realm: str) -> Credentials:
    """Work out which method the request used; using two at once is ``invalid_request``."""
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    if authorization is not None and authorization[:6].lower() == "basic ":
        if body_secret is not None:
            raise InvalidRequest("use either HTTP Basic or client_secret in the body, not both")
        client_id, secret = _decode_basic(authorization[6:], realm)
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body does not match HTTP Basic")
        return Credentials(_BASIC, client_id, secret)
    if body_id is None:
        raise InvalidClient("client authentication is required", realm=realm)
    if body_secret is not None:
        return Credentials("client_secret_post", body_id, body_secret)
    return Credentials("none", body_id, None)


def _decode_basic(encoded: str, realm: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("malformed HTTP Basic credentials", realm=realm) from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep or not raw_id:
        raise InvalidClient("malformed HTTP Basic credentials", realm=realm)
    # RFC 6749 section 2.3.1: both parts are form-url-encoded before base64 (a generated secret has nothing to decode).
    return _unquoted(raw_id), _unquoted(raw_secret)


def _unquoted(part: str) -> str:
    return unquote_plus(part) if "%" in part or "+" in part else part


def _check_secret(client: Client, creds: Credentials) -> bool:
    if creds.secret is None or client.secret_hash is None:
        return False
    return crypto.verify_secret(creds.secret, client.secret_hash)


def _check_public(client: Client, creds: Credentials) -> bool:
    return client.public and client.secret_hash is None


# The method a request used must be the one the client registered; each checks its own proof.
CHECKS: dict[AuthMethod, Callable[[Client, Credentials], bool]] = {
    "client_secret_basic": _check_secret,
    "client_secret_post": _check_secret,
    "none": _check_public,
}


#: HTTP Basic headers that proved a generated secret, by keyed digest (:func:`~asgi_oauth.crypto.memory_key`,
#: never the header), each with the client and stored hash it matched. A client sends the same header on every
#: request; a header seen to match is matched again by its digest instead of base64 and a keyed hash (timed in
#: benchmarks/PROFILE.md). The client is still read per request: a deleted client, a new secret or another
#: method refuses the header at once.
_VERIFIED: dict[bytes, tuple[str, str]] = {}
_VERIFIED_MAX = 4096


def _remembered(ctx: Context, request: Incoming, key: bytes) -> Client | None:
    """The client a remembered Basic header proved, while it still would and this worker knows the client
    without a store read; ``None`` sends it the long way."""
    client_id, secret_hash = _VERIFIED[key]
    params = request.params
    if params.get("client_secret") is not None or params.get("client_id") not in (None, client_id):
        return None
    client = ctx.clients.known(client_id)
    if client is None or client.secret_hash != secret_hash or client.token_endpoint_auth_method != _BASIC:
        return None
    return client


def _remember(key: bytes, client_id: str, secret_hash: str) -> None:
    if len(_VERIFIED) >= _VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]  # the oldest
    _VERIFIED[key] = (client_id, secret_hash)


async def authenticate(ctx: Context, request: Incoming) -> Client:
    """The authenticated client, or :class:`InvalidClient` (401 with a Basic challenge, whatever was tried).

    A client that used another method than the one it registered is told which one, before any secret is
    looked at. Failures count towards the limits (:mod:`.ratelimit`); a secret a person chose is checked
    against them before it is verified, so a blocked sender cannot keep guessing.
    """
    for feature in ctx.features:  # a feature's own methods (a client assertion, say) are tried first
        for method in feature.client_auth_methods():
            if method.applies(request):
                return await method.authenticate(ctx, request)
    key = None
    if (authorization := request.authorization) is not None and authorization[:6].lower() == "basic ":
        key = crypto.memory_key(authorization)
        if key in _VERIFIED and (client := _remembered(ctx, request, key)) is not None:
            return client
    realm = ctx.settings.realm
    creds = credentials(authorization, request.params, realm)
    try:
        client = await ctx.clients.get(creds.client_id)
    except DocumentError as error:
        raise InvalidClient(str(error), realm=realm) from None
    if client is not None and client.token_endpoint_auth_method != creds.method:
        ctx.events.emit("client_auth_failed", client_id=creds.client_id, address=request.peer, what=creds.method)
        registered = client.token_endpoint_auth_method
        raise InvalidClient(
            f"this client is registered to authenticate with {registered}; use that method", realm=realm
        )
    guessable = client is not None and client.secret_hash is not None and crypto.guessable(client.secret_hash)
    if not guessable and client is not None and CHECKS[creds.method](client, creds):
        if key is not None and creds.method == _BASIC and client.secret_hash is not None:
            _remember(key, client.client_id, client.secret_hash)
        return client  # the common case: a generated secret, one keyed hash, nothing to count
    attempt = Attempt.client(creds.client_id, request.peer)
    known = await ctx.limiter.check(attempt) if guessable else False
    if client is None:
        if creds.secret is not None:
            crypto.verify_secret(creds.secret, _DUMMY_HASH)
    elif guessable and CHECKS[creds.method](client, creds):
        await ctx.limiter.succeeded(attempt, known=known)
        return client
    ctx.events.emit("client_auth_failed", client_id=creds.client_id, address=request.peer, what=creds.method)
    if not guessable:  # not checked before the secret: a place past its limit is refused now, and not counted
        await ctx.limiter.check(attempt)
    await ctx.limiter.failed(attempt)
    raise InvalidClient("client authentication failed", realm=realm)
