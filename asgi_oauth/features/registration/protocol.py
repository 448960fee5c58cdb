"""RFC 7591 dynamic client registration: anyone (or anyone holding an initial access token) registers a client.

Registration is open to the internet, so every step is bounded, and none of the bounds can reach clients
that already exist:

* each address may send ten times ``dynamic_registration_rate_limit`` registration requests a window, counted
  before the body is read, refused and unreadable ones too; of those, ``dynamic_registration_rate_limit`` may
  make new clients, refused metadata counting as new (one store round trip each, in the failed-attempt
  buckets' own key space, so a flood fills only registration buckets);
* the limit counts client *software*, not runs of it: a public client that registers again with the same
  metadata (as every run of an MCP client does) gets the same client back, its id derived from that metadata
  (and RFC 7591 ``software_id``), with no new record, so one developer re-running a client never meets the
  limit of new clients, while varying the metadata to make new clients is still limited per address. Public
  clients hold no secret, so two people sharing one is harmless, as for Client ID Metadata Documents;
* at most ``dynamic_client_limit`` dynamic clients live at once; past it registration is refused;
* a dynamic client that completes no token request within ``dynamic_client_unused_lifetime`` is deleted,
  so abandoned registrations free their place; one that did stays (until its secret expires, if it does);
* a registration may ask only for scopes in ``dynamic_registration_scopes``;
* with ``dynamic_registration_tokens`` set, only holders of one of them may register (RFC 7591 section 3).

Registered clients may use ``authorization_code`` (with ``refresh_token``) and ``client_credentials``,
whichever the server enabled; never ``password`` or ``implicit``, which trust the client with more than a
stranger should get. Redirect URIs are ``https``, or ``http`` on a loopback host (RFC 8252 section 7.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ... import crypto
from ...cimd.documents import MethodRegistration
from ...clients import ClientError, check_redirect_uri, new_client, valid_scope_token
from ...errors import OAuthError
from ...models import Bucket, Client
from ...protocol.context import Context
from ...settings import OAuthSettings
from .. import registrable_methods

#: The grants a dynamically registered client may ask for, in the order its metadata lists them.
REGISTRABLE_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_MAX_NAME = 200
_MAX_REDIRECT_URIS = 20


class InvalidClientMetadata(OAuthError):
    """RFC 7591 section 3.2.2: a metadata field is invalid or not allowed here."""

    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 section 3.2.2: a redirect URI is invalid or not allowed here."""

    error = "invalid_redirect_uri"


class InvalidInitialToken(OAuthError):
    """No valid initial access token (RFC 7591 section 3; RFC 6750 section 3 for the challenge)."""

    error = "invalid_token"
    status_code = 401


class TooManyRegistrations(OAuthError):
    """The address registered its allowance for now; RFC 7591 has no code, so status and ``Retry-After`` say it."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many registrations from this address; retry in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class RegistrationClosed(OAuthError):
    """The cap on dynamic clients is reached: new registrations wait until unused ones expire."""

    error = "temporarily_unavailable"
    status_code = 503


@dataclass(frozen=True, slots=True)
class Registration:
    """A validated registration request (RFC 7591 section 2): what the client will be registered with."""

    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    scope: str
    client_name: str | None
    #: RFC 7591 ``software_id``: the same for every instance of one piece of software (not verified).
    software_id: str | None = None
    #: What a feature's auth method keeps with the client (its keys), and the metadata the answer repeats.
    extra: Mapping[str, Any] = field(default_factory=dict)
    described: Mapping[str, Any] = field(default_factory=dict)

    def software(self) -> str:
        """The registration's identity: a public client registering the same again is the same client.

        Loopback redirect URIs are taken without their port, which a public client may change on every run
        (RFC 8252 section 7.3; matched on any port at ``/authorize``)."""
        fields = [self.software_id or "", self.client_name or "", self.token_endpoint_auth_method, self.scope]
        uris = {_without_loopback_port(uri) for uri in self.redirect_uris}
        fields += ["|".join(self.grant_types), "|".join(self.response_types), *sorted(uris)]
        digest = hashlib.sha256("\0".join(["asgi_oauth.software", *fields]).encode("utf-8", "surrogatepass"))
        return base64.urlsafe_b64encode(digest.digest()).decode()[:22]


def loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP literal: where RFC 8252 section 7.3 lets a native app listen on http."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_metadata(
    body: Any,
    settings: OAuthSettings,
    enabled_grants: Mapping[str, object],
    methods: Mapping[str, MethodRegistration] | None = None,
) -> Registration:
    """Validate RFC 7591 section 2 client metadata; fields this server does not know are ignored. ``methods``:
    the switched-on features' auth methods that clients may register (``ClientAuthMethod.registration``)."""
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the body must be a JSON object of client metadata")

    methods = methods or {}
    method = _string(body, "token_endpoint_auth_method", default="client_secret_basic")
    keeps: Mapping[str, Any] = {}
    described: Mapping[str, Any] = {}
    registration = methods.get(method)
    if registration is not None:
        try:
            keeps, described = registration(body)
        except ValueError as error:
            raise InvalidClientMetadata(f"{method}: {error}") from None
    elif method not in _AUTH_METHODS:
        known = ", ".join([*_AUTH_METHODS, *methods])
        raise InvalidClientMetadata(f"token_endpoint_auth_method must be one of {known}")

    allowed = [g for g in REGISTRABLE_GRANTS if g in enabled_grants]
    grants = _strings(body, "grant_types", default=("authorization_code",))
    if not grants:
        raise InvalidClientMetadata("grant_types must not be empty")
    for grant in grants:
        if grant not in allowed:
            # The name is the sender's input, so it is not echoed into the description.
            raise InvalidClientMetadata(f"grant_types may name only {', '.join(allowed)}")
    if method == "none" and "client_credentials" in grants:
        raise InvalidClientMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")

    # RFC 7591 section 2.1: the code response type goes with the authorization_code grant, and only with it.
    code_flow = "authorization_code" in grants
    responses = _strings(body, "response_types", default=("code",) if code_flow else ())
    if set(responses) - {"code"}:
        raise InvalidClientMetadata("response_types: only code can be registered")
    if code_flow != ("code" in responses):
        raise InvalidClientMetadata("response_types code and grant_types authorization_code go together")

    uris = _strings(body, "redirect_uris", default=(), error=InvalidRedirectUri)
    if code_flow and not uris:
        raise InvalidRedirectUri("redirect_uris must list at least one URI for the authorization_code grant")
    if len(uris) > _MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"redirect_uris may list at most {_MAX_REDIRECT_URIS} URIs")
    for uri in uris:
        _check_redirect_uri(uri)

    cap = settings.dynamic_registration_scopes
    requested = _string(body, "scope", default=None)
    if requested is not None:
        tokens = requested.split()
        if not all(valid_scope_token(t) and t.isprintable() for t in tokens):
            raise InvalidClientMetadata("scope has characters not allowed by RFC 6749 section 3.3")
        extra = sorted(set(tokens) - set(cap))
        if extra:
            offered = " ".join(cap) or "none"
            raise InvalidClientMetadata(f"scope: this server registers only these scopes: {offered}")
    # Registered for the whole cap, whatever subset was asked (RFC 7591 section 3.2.1 lets the server replace
    # a value, and the answer says so): a client that steps up later (MCP's insufficient_scope) asks for more
    # than it first needed, and the user's consent still decides each time.
    scope = " ".join(cap)

    name = _string(body, "client_name", default=None)
    if name is not None and (not name.strip() or len(name) > _MAX_NAME or not name.isprintable()):
        raise InvalidClientMetadata(f"client_name must be 1-{_MAX_NAME} printable characters")

    software_id = _string(body, "software_id", default=None)
    if software_id is not None and (not software_id.isprintable() or len(software_id) > _MAX_NAME):
        raise InvalidClientMetadata(f"software_id must be at most {_MAX_NAME} printable characters")
    unique = tuple(dict.fromkeys(uris))
    return Registration(unique, method, tuple(grants), tuple(responses), scope, name, software_id, keeps, described)


def _without_loopback_port(uri: str) -> str:
    """``http://localhost:51234/callback`` as ``http://localhost/callback``: a public client's loopback URI is
    matched on any port, so the port it registers with does not make it another client."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "http" or not loopback(parts.hostname) or parts.port is None:
        return uri
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    return parts._replace(netloc=host).geturl()


def _check_redirect_uri(uri: str) -> None:
    try:
        check_redirect_uri(uri)
    except ClientError:
        raise InvalidRedirectUri("each redirect URI must be an absolute URI without a fragment") from None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and loopback(parts.hostname):
        return
    raise InvalidRedirectUri("redirect URIs must be https, or http on localhost or a loopback address")


def _string(body: Mapping[str, Any], name: str, *, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def _strings(
    body: Mapping[str, Any], name: str, *, default: tuple[str, ...], error: type[OAuthError] = InvalidClientMetadata
) -> list[str]:
    value = body.get(name)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"{name} must be an array of strings")
    return list(dict.fromkeys(value))


# -- the abuse controls ------------------------------------------------------------------------------------


def check_initial_token(settings: OAuthSettings, authorization: str | None) -> None:
    """RFC 7591 section 3: with initial access tokens configured, the request must carry one as a Bearer token."""
    tokens = settings.dynamic_registration_tokens
    if not tokens:
        return
    challenge = f'Bearer realm="{settings.realm}"'
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise InvalidInitialToken("registration needs an initial access token", headers={"WWW-Authenticate": challenge})
    given = presented.strip().encode()
    # Every configured token is compared, in constant time, whichever matches.
    matched = [hmac.compare_digest(given, t.get_secret_value().encode()) for t in tokens]
    if not any(matched):
        raise InvalidInitialToken(
            "the initial access token is not valid",
            headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        )


#: How many registration requests an address may send a window, per new client it may make.
REQUESTS_PER_NEW_CLIENT = 10


async def count_registration(ctx: Context, address: str | None, *, new: bool = False) -> None:
    """Count one registration request from ``address`` (``new``: one that makes a new client, or is refused);
    raise :class:`TooManyRegistrations` past the allowance.

    One round trip through the failed-attempt buckets (:meth:`~asgi_oauth.store.base.LimitStore.record_failure`):
    a bucket of ``limit + 1`` is full only once the request over the allowance is counted, and a full bucket
    is not added to, so a flood never extends its own block.
    """
    limit = ctx.settings.dynamic_registration_rate_limit
    if limit <= 0:
        return
    origin = f"address:{address or 'unknown'}"
    kind, limit = ("register", limit) if new else ("register-request", limit * REQUESTS_PER_NEW_CLIENT)
    key = f"{kind}:{crypto.digest(origin, 'limit')}"
    bucket = Bucket(key, limit + 1, ctx.settings.dynamic_registration_window)
    wait = await ctx.store.record_failure([bucket], known="register:never-known")
    if wait > 0:
        raise TooManyRegistrations(max(1, math.ceil(wait)))


async def register(
    ctx: Context,
    enabled_grants: Mapping[str, object],
    body: Any,
    *,
    authorization: str | None,
    address: str | None,
) -> dict[str, Any]:
    """Register a client from RFC 7591 metadata; the RFC 7591 section 3.2.1 response body (status 201).

    The request was counted by :func:`count_registration` before its body was read, so that unreadable
    bodies count too; here a new client (or refused metadata) counts once more, against the smaller limit."""
    settings = ctx.settings
    methods = registrable_methods(ctx.features)
    try:
        check_initial_token(settings, authorization)
        metadata = check_metadata(body, settings, enabled_grants, methods)
    except OAuthError:
        await count_registration(ctx, address, new=True)  # refused metadata counts as a new client
        raise
    public = metadata.token_endpoint_auth_method == "none"  # noqa: S105 (a method name)
    # A public client's id is its software's: registering the same again finds it.
    client_id = metadata.software() if public else None
    if client_id is not None:
        again = await _registered_before(ctx, client_id)
        if again is not None:
            return response_body(again, metadata, None)
    await count_registration(ctx, address, new=True)
    try:
        client, secret = new_client(
            client_id=client_id,
            name=metadata.client_name or "Unnamed client",
            public=metadata.token_endpoint_auth_method == "none",  # noqa: S105 (a method name)
            grant_types=metadata.grant_types,
            redirect_uris=metadata.redirect_uris,
            scope=metadata.scope,
            token_endpoint_auth_method=metadata.token_endpoint_auth_method,
            extra=metadata.extra,
            secret_key=settings.secret_key,
        )
    except ClientError as exc:  # check_metadata should have caught it; still the client's mistake
        raise InvalidClientMetadata("the client metadata is not consistent") from exc
    now = ctx.clock()
    secret_lifetime = settings.dynamic_client_secret_lifetime
    client = replace(
        client,
        created_at=int(now),
        dynamic=True,
        unused_expires_at=now + settings.dynamic_client_unused_lifetime,
        secret_expires_at=int(now) + secret_lifetime if secret is not None and secret_lifetime else 0,
    )
    outcome = await ctx.store.add_dynamic_client(client, limit=settings.dynamic_client_limit)
    if outcome == "full":
        raise RegistrationClosed("the server holds as many registered clients as it allows; try again later")
    if outcome == "taken":
        # Another worker registered the same public client just now; a random 128-bit id cannot collide.
        again = await _registered_before(ctx, client_id) if client_id is not None else None
        if again is None:
            raise RegistrationClosed("registration failed; try again")
        return response_body(again, metadata, None)
    return response_body(client, metadata, secret)


async def _registered_before(ctx: Context, client_id: str) -> Client | None:
    """The dynamic public client of that software, if it is registered."""
    client = await ctx.store.get_client(client_id)
    return client if client is not None and client.dynamic else None


def response_body(client: Client, metadata: Registration, secret: str | None) -> dict[str, Any]:
    """RFC 7591 section 3.2.1: the client's id and, for a confidential client, its secret, with the metadata."""
    body: dict[str, Any] = {"client_id": client.client_id, "client_id_issued_at": client.created_at}
    if secret is not None:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = client.secret_expires_at
    body["client_name"] = client.name
    body["redirect_uris"] = list(client.redirect_uris)
    body["token_endpoint_auth_method"] = client.token_endpoint_auth_method
    body["grant_types"] = list(metadata.grant_types)
    body["response_types"] = list(metadata.response_types)
    body.update(metadata.described)
    if client.scope:
        body["scope"] = client.scope
    return body


# -- once a client completes a token request, it is kept ------------------------------------------------


async def keep_used(ctx: Context, client: Client) -> None:
    """Mark a dynamic client as used once it got tokens, so it no longer expires unused.

    Ordinary clients, and dynamic ones already marked, cost nothing more; a client seen unused (another worker
    may still remember the record from before it was marked) costs one more store step, which is idempotent.
    """
    if client.unused_expires_at:
        used = replace(client, unused_expires_at=0.0)
        if await ctx.store.keep_client(used):
            ctx.clients.replace(used)  # so this worker does not mark it again
