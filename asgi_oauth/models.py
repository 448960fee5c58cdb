"""The records the server keeps. Frozen, no I/O: the stores persist them, the protocol reasons about them."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .frozen import slot_init
from .types import AuthMethod, CodeChallengeMethod, GrantType


@functools.lru_cache(maxsize=4096)
def scope_set(scope: str) -> frozenset[str]:
    # Cached: the same few scope strings are split on every validated request.
    return frozenset(scope.split())


#: What features add to a record (a claim set, a binding, an actor), by the feature's own key. Stored as one
#: encoded field that the stores' scripts never read, so a feature adds data without any store changing.
Extra = Mapping[str, Any]


def no_extra() -> Extra:
    return {}


def scope_str(scopes: frozenset[str] | set[str]) -> str:
    # Sorted so that equal scope sets always render (and compare, and cache) the same way.
    return " ".join(sorted(scopes))


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client. Make one with :func:`asgi_oauth.new_client`, which hashes the secret; the record
    keeps only ``secret_hash``."""

    client_id: str
    name: str
    #: ``None`` for public clients; otherwise a tagged hash from :func:`asgi_oauth.crypto.hash_secret`.
    secret_hash: str | None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[GrantType, ...] = ("authorization_code", "refresh_token")
    scope: str = ""
    public: bool = False
    first_party: bool = False
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"  # noqa: S105 (a method name)
    #: Resource servers may introspect tokens issued to other clients (RFC 7662 section 4).
    introspect_any: bool = False
    created_at: int = 0
    #: Registered through RFC 7591 dynamic registration: counted against the cap, may expire.
    dynamic: bool = False
    #: Epoch seconds after which a dynamic client that never completed a token request is gone; 0 once used.
    unused_expires_at: float = 0.0
    #: RFC 7591 ``client_secret_expires_at``: when the secret, and so the client, stops working; 0 never.
    secret_expires_at: int = 0
    #: What switched-on features added (:data:`Extra`); not part of the record's hash.
    extra: Extra = field(default_factory=no_extra, hash=False)

    @property
    def scopes(self) -> frozenset[str]:
        return scope_set(self.scope)

    @property
    def expires_at(self) -> float:
        """When the record stops existing (0: never): the sooner of the unused deadline and the secret's expiry."""
        times = [t for t in (self.unused_expires_at, self.secret_expires_at) if t]
        return min(times) if times else 0.0

    def expired(self, now: float) -> bool:
        expires_at = self.expires_at
        return bool(expires_at) and expires_at <= now


@slot_init
@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token's record, as validation returns it: whose it is, for which client, scope and resource,
    until when. The token string itself is never kept, only its digest."""

    client_id: str
    scope: str
    sub: str | None
    iat: int
    #: Epoch seconds, float so that short test lifetimes are honoured to the millisecond.
    exp: float
    username: str | None = None
    #: The resource the token is for (RFC 8707), its audience; ``None`` when the client named none.
    resource: str | None = None
    #: What switched-on features added (:data:`Extra`); not part of the record's hash.
    extra: Extra = field(default_factory=no_extra, hash=False)


@slot_init
@dataclass(frozen=True, slots=True)
class TokenFamily:
    """Everything descended from one grant: the current refresh token and its issued access tokens."""

    #: Hash of the refresh token that may be used next; every other one of the family is spent.
    refresh_digest: str
    client_id: str
    #: The scope granted by the resource owner; refreshed access tokens may narrow it, never widen.
    scope: str
    sub: str | None
    #: Issued-at and expiry of the current refresh token.
    iat: int
    exp: float
    username: str | None = None
    #: The refresh token the current one replaced, and when (epoch seconds): within the refresh grace
    #: period a client that never got the rotation's answer may present it once more.
    previous_digest: str | None = None
    rotated_at: float | None = None
    #: The resource the grant was given for (RFC 8707); refreshed access tokens may not leave it.
    resource: str | None = None
    #: When the resource owner authenticated (OpenID Connect ``auth_time``), kept for refreshed ID tokens.
    auth_time: int | None = None
    #: What switched-on features added (:data:`Extra`); not part of the record's hash.
    extra: Extra = field(default_factory=no_extra, hash=False)


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An authorization code's record, kept until the code is redeemed once or expires: what the token request
    must match (client, redirect URI, PKCE challenge) and what the tokens will carry."""

    client_id: str
    redirect_uri: str
    #: Whether the authorization request carried ``redirect_uri`` (then the token request must repeat it).
    redirect_uri_sent: bool
    scope: str
    sub: str
    exp: float
    code_challenge: str | None = None
    code_challenge_method: CodeChallengeMethod | None = None
    username: str | None = None
    #: The resource the authorization request named (RFC 8707), which the tokens will be for.
    resource: str | None = None
    #: OpenID Connect's ``nonce`` as releases before it was a feature wrote it (now in ``extra["oidc"]``); kept
    #: at its place so that codes they issued, and every later field, still read right.
    nonce: str | None = None
    #: When the user authenticated (the host's ``User.auth_time``), kept for ``auth_time`` claims.
    auth_time: int | None = None
    #: What switched-on features added (:data:`Extra`); not part of the record's hash.
    extra: Extra = field(default_factory=no_extra, hash=False)


class Outcome(enum.Enum):
    """What a store verb that spends a code or a refresh token did, so each case gets its own answer."""

    #: Done: the tokens are stored.
    DONE = "done"
    #: Nothing stored: no such code or family (never issued, expired and dropped, or revoked).
    MISSING = "missing"
    #: Already spent: a replayed code or a reused refresh token. The family issued from it is revoked.
    REUSED = "reused"


@dataclass(frozen=True, slots=True)
class CodeReplayed:
    """``take_code`` found the code already spent; the store has revoked the tokens issued from it."""


@dataclass(frozen=True, slots=True)
class TokenLookup:
    """One round trip's worth of answers about a presented token (either kind)."""

    access: AccessToken | None
    family: TokenFamily | None
    #: The presented value is a refresh token of this family that was already rotated away.
    refresh_spent: bool = False


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in resource owner as the host application knows it."""

    #: Stable identifier, becomes the token's ``sub``.
    sub: str
    #: Human-readable name for introspection's ``username`` (RFC 7662), when it differs from ``sub``.
    username: str | None = None
    #: When the user last authenticated (epoch seconds), if the host knows: OpenID Connect's ``auth_time``,
    #: which ``max_age`` and ``prompt=login`` are checked against.
    auth_time: float | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One sliding-window count of failed attempts: at most ``limit`` within ``window`` seconds."""

    key: str
    limit: int
    window: float
    #: Skipped for an attempt from a proven place (its ``known`` key exists): the principal-wide and
    #: address-wide counts must not refuse a principal where it signed in before.
    waived_if_known: bool = False


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """What the store says before a guessable secret is verified."""

    #: Seconds until the attempt may be made (0: now).
    blocked_for: float
    #: The principal signed in from this place before (its ``known`` key exists).
    known: bool
