"""The device authorization grant (RFC 8628), without HTTP: for CLIs, TVs and other devices without a browser.

The device asks ``/device_authorization`` for a ``device_code`` (its secret, polled at the token endpoint) and a
``user_code`` (short, for a person to type on another device's browser at the verification page). The user
signs in there, enters the code and approves; the device's next poll gets the tokens, exactly once.

What is stored: the device code like every token (a family id, the Cluster hash tag, and a digest of the whole
value); the user code only as an HMAC keyed with ``SECRET_KEY``. Unlike the 256-bit secrets, a user code has
about 35 bits, so a digest with a public key would be reversed from a Redis dump in seconds; a keyed one is
not. Every key in ``SECRET_KEY`` is tried on lookup, so rotating it keeps pending codes working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ... import crypto
from ...errors import AccessDenied, InvalidGrant, OAuthError, TemporarilyUnavailable, UnauthorizedClient
from ...models import Client, Outcome, User
from ...protocol.client_auth import authenticate
from ...protocol.context import Context
from ...protocol.grants import TokenResponse, prepare
from ...protocol.params import Incoming
from ...protocol.scopes import narrow
from ...protocol.targets import requested_resource
from .settings import DeviceSettings
from .store import DeviceFound, DeviceGrant, DeviceStore

#: RFC 8628 section 3.4's grant type.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

#: RFC 8628 section 6.1's example alphabet: 20 consonants, no vowels (no words spelled by accident), none that
#: look alike (no I/1, O/0). Eight of them give 20^8 (about 2^34.6) codes; shown as ``XXXX-XXXX``.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
#: Seconds the interval grows with each ``slow_down`` (RFC 8628 section 3.5).
SLOW_DOWN_STEP = 5
#: A poll up to this much earlier than the interval is not yet too soon: clocks and networks jitter.
POLL_LEEWAY = 0.5
#: Attempts to find a free user code before giving up (a collision needs thousands of live codes).
_USER_CODE_TRIES = 5


class AuthorizationPending(OAuthError):
    """RFC 8628 section 3.5: the user has not decided yet; poll again after the interval."""

    error = "authorization_pending"


class SlowDown(OAuthError):
    """RFC 8628 section 3.5: polled too soon; the interval is now 5 seconds longer, for good."""

    error = "slow_down"


class ExpiredToken(OAuthError):
    """RFC 8628 section 3.5: the device code expired; start a new device authorization."""

    error = "expired_token"


class DeviceAccessDenied(AccessDenied):
    """RFC 8628 section 3.5: the user denied the request; a token endpoint error, so 400 (RFC 6749 section 5.2)."""

    status_code = 400


def new_user_code() -> str:
    """Eight characters of :data:`USER_CODE_ALPHABET`, normalised (no dash)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    """``BCDFGHJK`` as people read and type it: ``BCDF-GHJK``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(typed: str) -> str | None:
    """What a person typed as a user code: case, dashes and spaces do not matter. ``None`` when it cannot be one."""
    code = "".join(c for c in typed.upper() if c != "-" and not c.isspace())
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def user_code_digests(code: str, keys: tuple[str, ...]) -> list[str]:
    """The stored forms of a normalised user code, one per signing key, newest first: new codes are stored
    under the first, and lookups try each so that a key rotation keeps pending codes."""
    return [
        crypto.digest(
            hmac.new(key.encode(), b"asgi_oauth/user-code/v1\0" + code.encode(), hashlib.sha256).hexdigest(), "code"
        )
        for key in keys
    ]


def verification_uri(settings: DeviceSettings, issuer: str) -> str:
    """Where the user enters the code: ``DEVICE_VERIFICATION_URI``, else the server's own page."""
    return settings.verification_uri or f"{issuer}/device"


async def authorize_device(
    ctx: Context, devices: DeviceStore, settings: DeviceSettings, request: Incoming
) -> dict[str, Any]:
    """RFC 8628 section 3.1-3.2: authenticate the client as at the token endpoint (public clients send their
    ``client_id``), and start a device authorization for the scope it may have."""
    client = await authenticate(ctx, request)
    if DEVICE_CODE_GRANT not in client.grant_types:
        raise UnauthorizedClient("this client may not use the device authorization grant")
    params = request.params
    scope = narrow(params.get("scope"), client.scopes)
    resource = requested_resource(params, ctx.settings.resources)
    now = ctx.clock()
    lifetime = settings.code_lifetime
    grant = DeviceGrant(
        client_id=client.client_id,
        scope=scope,
        exp=now + lifetime,
        interval=settings.poll_interval,
        resource=resource,
    )
    family_id, device_code = crypto.new_token()
    device_digest = crypto.digest(device_code, "code")
    for _ in range(_USER_CODE_TRIES):
        user_code = new_user_code()
        digest = user_code_digests(user_code, ctx.settings.signing_keys)[0]
        # Kept past its expiry as long again, so that a late poll hears expired_token, not invalid_grant.
        if await devices.put_device(family_id, device_digest, digest, grant, keep_until=grant.exp + lifetime):
            break
    else:
        raise TemporarilyUnavailable("no free user code; try again")  # each try collides with p = live codes / 20^8
    shown = display_user_code(user_code)
    uri = verification_uri(settings, ctx.settings.issuer)
    return {
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": uri,
        "verification_uri_complete": f"{uri}{'&' if '?' in uri else '?'}{urlencode({'user_code': shown})}",
        "expires_in": round(lifetime),
        "interval": settings.poll_interval,
    }


async def find_pending(ctx: Context, devices: DeviceStore, typed: str) -> DeviceFound | None:
    """The pending, unexpired device authorization a typed user code names, else ``None``."""
    code = normalize_user_code(typed)
    if code is None:
        return None
    for digest in user_code_digests(code, ctx.settings.signing_keys):
        found = await devices.find_device(digest)
        if found is not None:
            pending = found.grant.status == "pending" and found.grant.exp > ctx.clock()
            return found if pending else None
    return None


async def decide(devices: DeviceStore, family_id: str, device_digest: str, user: User, *, approve: bool) -> bool:
    """Record the user's decision on the request stored there; ``False`` when it expired or was decided meanwhile."""
    return await devices.decide_device(family_id, device_digest, approve=approve, sub=user.sub, username=user.username)


@dataclass(frozen=True, slots=True)
class _Located:
    family_id: str
    device_digest: str


def _locate(device_code: str) -> _Located:
    family_id = crypto.family_of(device_code)
    if family_id is None:
        raise InvalidGrant("invalid device code")
    return _Located(family_id, crypto.digest(device_code, "code"))


async def device_code(ctx: Context, devices: DeviceStore, client: Client, request: Incoming) -> TokenResponse:
    """The token endpoint's ``urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 section 3.4-3.5).

    Pending: ``authorization_pending``, or ``slow_down`` for a poll that came too soon (the stored interval
    grows by 5 seconds). Decided: ``access_denied``, or the tokens, issued once (one atomic step marks the
    grant issued and stores them). Expired: ``expired_token``. A code issued to another client, an unknown one
    and one already used: ``invalid_grant``.
    """
    where = _locate(request.params.require("device_code"))
    polled = await devices.poll_device(
        where.family_id, where.device_digest, client_id=client.client_id, step=SLOW_DOWN_STEP, leeway=POLL_LEEWAY
    )
    if polled is None:
        raise InvalidGrant("invalid or expired device code")
    grant = polled.grant
    if grant.client_id != client.client_id:
        raise InvalidGrant("device code was issued to another client")
    if grant.status == "issued":
        raise InvalidGrant("device code was already used")
    if grant.exp <= ctx.clock():
        raise ExpiredToken("the device code has expired; start over")
    if grant.status == "denied":
        raise DeviceAccessDenied("the user denied the request")
    if grant.status == "pending":
        if polled.too_soon:
            raise SlowDown(f"polled too soon; wait {grant.interval} seconds between polls")
        raise AuthorizationPending("the user has not finished yet")
    if grant.sub is None:  # approved grants always name their user; fail closed if a store lost it
        raise InvalidGrant("invalid device code")
    user = User(grant.sub, grant.username)
    refresh = "refresh_token" in client.grant_types
    # As every grant issues them: with what the switched-on features keep, in the form they give the access token.
    minted = await prepare(
        ctx, client, grant.scope, user, refresh=refresh, family_id=where.family_id, resource=grant.resource
    )
    access_digest = crypto.digest(minted.access, "access")
    outcome = await devices.redeem_device(
        where.family_id, where.device_digest, access_digest, minted.access_record, minted.family
    )
    if outcome is Outcome.REUSED:
        raise InvalidGrant("device code was already used")
    if outcome is Outcome.MISSING:
        raise InvalidGrant("invalid or expired device code")
    return minted.response(ctx)
