"""OpenID Connect Core 1.0 for the code flow, without HTTP and without a JOSE library.

What this module decides: which authorization requests are OpenID requests and whether they are well formed
(``nonce``, ``prompt``, ``max_age``, ``login_hint``), what an ID token and an RFC 9068 access token claim,
which user claims each scope releases, and when a refresh token is issued (``offline_access``, section 11).
Signing is the :class:`TokenSigner`'s job (:mod:`.keys`, on PyJWT), so this module imports neither PyJWT nor
Starlette.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ... import crypto
from ...errors import InvalidRequest, OAuthError
from ...models import AccessToken, scope_set
from ...protocol.params import Params
from .settings import OIDCSettings

#: The scope that makes an authorization request an OpenID Connect one.
OPENID = "openid"
#: OIDC Core section 11: a refresh token for an OpenID request only with this scope.
OFFLINE_ACCESS = "offline_access"

#: OIDC Core section 5.4: the claims each scope asks for at the userinfo endpoint.
SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
#: Every scope this provider gives a meaning to, in the order metadata lists them.
OIDC_SCOPES = (OPENID, *SCOPE_CLAIMS, OFFLINE_ACCESS)
#: What the consent and device pages say each of those allows, unless the host describes it itself.
SCOPE_DESCRIPTIONS: Mapping[str, str] = {
    OPENID: "Sign you in with your account",
    "profile": "See your name and profile",
    "email": "See your email address",
    "address": "See your postal address",
    "phone": "See your phone number",
    OFFLINE_ACCESS: "Keep access while you are away",
}
#: The claims an ID token carries (OIDC Core section 2), then those the scopes release at ``/userinfo``.
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp")
PROMPTS = ("none", "login", "consent", "select_account")
_MAX_AGE = re.compile(r"[0-9]{1,9}")


class LoginRequired(OAuthError):
    """OIDC Core 3.1.2.6: ``prompt=none`` (or a ``max_age`` / ``prompt=login`` the host cannot prove) and no
    fresh enough sign-in."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """OIDC Core 3.1.2.6: ``prompt=none`` but the user has not consented to this client and scope."""

    error = "consent_required"


class AccountSelectionRequired(OAuthError):
    error = "account_selection_required"


class RequestNotSupported(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"


class RegistrationNotSupported(OAuthError):
    error = "registration_not_supported"


@dataclass(frozen=True, slots=True)
class OpenIDRequest:
    """The OpenID Connect parameters of an authorization request that asked for ``openid``."""

    nonce: str
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    #: Internal: the signed time from which a sign-in counts as fresh, set when the server sent the browser to
    #: sign in again for ``prompt=login``; the host's login page carries it back inside ``next``.
    fresh_after: str | None = None

    def marks(self) -> dict[str, str]:
        return {} if self.fresh_after is None else {"fresh_after": self.fresh_after}

    def params(self) -> dict[str, str]:
        values = {
            "nonce": self.nonce,
            "prompt": " ".join(p for p in PROMPTS if p in self.prompt) or None,
            "max_age": None if self.max_age is None else str(self.max_age),
            "login_hint": self.login_hint,
            "fresh_after": self.fresh_after,
        }
        return {k: v for k, v in values.items() if v is not None}


_UNSUPPORTED: Mapping[str, type[OAuthError]] = {
    "request": RequestNotSupported,
    "request_uri": RequestUriNotSupported,
    "registration": RegistrationNotSupported,
}


def is_openid(scope: str) -> bool:
    return OPENID in scope_set(scope)


def parse_request(params: Params, fresh_after: str | None = None) -> OpenIDRequest:
    """The OpenID parameters of a request whose scope holds ``openid``; raises the OAuth error to redirect.
    ``fresh_after`` is the server's own marker, which the browser carried back.

    ``nonce`` is required for every OpenID request here, not only for the implicit flow: it binds the ID
    token to the browser session that started the sign-in, and every relying party library sends it.
    """
    # OIDC Core sections 6 and 7.2.1: request objects and self-issued registration are optional; say so.
    for param, error in _UNSUPPORTED.items():
        if param in params:
            raise error(f"the {param} parameter is not supported")
    nonce = params.get("nonce")
    if nonce is None:
        raise InvalidRequest("nonce is required for openid requests")
    if len(nonce) > 512:
        raise InvalidRequest("nonce is too long")
    raw_prompt = params.get("prompt")
    prompt = frozenset(raw_prompt.split(" ")) if raw_prompt is not None else frozenset()
    if not prompt <= frozenset(PROMPTS):
        raise InvalidRequest(f"prompt must be among {', '.join(PROMPTS)}")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    raw_max_age = params.get("max_age")
    if raw_max_age is not None and not _MAX_AGE.fullmatch(raw_max_age):
        raise InvalidRequest("max_age must be a number of seconds")
    login_hint = params.get("login_hint")
    if login_hint is not None and len(login_hint) > 256:
        raise InvalidRequest("login_hint is too long")
    return OpenIDRequest(
        nonce=nonce,
        prompt=prompt,
        max_age=None if raw_max_age is None else int(raw_max_age),
        login_hint=login_hint,
        fresh_after=fresh_after,
    )


def grants_refresh(scope: str) -> bool:
    """OIDC Core section 11: an OpenID grant gets a refresh token only with ``offline_access``.

    Non-OpenID grants keep the OAuth rule (a refresh token whenever the client may refresh). The consent
    page shows ``offline_access`` like any scope; first-party clients, which skip it, get it when asked.
    """
    scopes = scope_set(scope)
    return OPENID not in scopes or OFFLINE_ACCESS in scopes


class TokenSigner(Protocol):
    """Signs JWTs with the provider's current key (:class:`asgi_oauth.keys.KeyRing`)."""

    @property
    def alg(self) -> str: ...

    async def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        """A compact JWS of ``claims`` with header ``typ`` and the signing key's ``kid``."""


#: The host's user claims: from ``sub`` and the granted scopes to standard claims (``name``, ``email``, ...).
#: Only the claims the scopes ask for (:data:`SCOPE_CLAIMS`) are released, whatever it returns.
UserClaims = Callable[[str, frozenset[str]], Awaitable[Mapping[str, Any]]]


def token_hash(token: str, alg: str) -> str:
    """``at_hash`` (OIDC Core 3.1.3.6): the left half of the token's hash with the JWS algorithm's hash.

    RS256 and ES256, the two algorithms offered, both use SHA-256.
    """
    if not alg.endswith("256"):
        raise ValueError(f"no hash for {alg}")
    half = hashlib.sha256(token.encode("ascii")).digest()[:16]
    return crypto.b64url(half)


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    sub: str,
    now: float,
    lifetime: float,
    access_token: str,
    alg: str,
    nonce: str | None = None,
    auth_time: int | None = None,
) -> dict[str, Any]:
    """An ID token's claims (OIDC Core 2 and 3.1.3.6); the client is the only audience, so ``azp`` repeats it."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": client_id,
        "exp": int(now + lifetime),
        "iat": int(now),
        "azp": client_id,
        "at_hash": token_hash(access_token, alg),
    }
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if nonce is not None:
        claims["nonce"] = nonce
    return claims


def wants_jwt(settings: OIDCSettings, client_id: str, resource: str | None) -> bool:
    """Whether this client's (or this resource's) access tokens are JWTs (RFC 9068), by the settings."""
    clients = settings.jwt_access_token_clients
    if "*" in clients or client_id in clients:
        return True
    return resource is not None and resource in settings.jwt_access_token_resources


def access_token_claims(issuer: str, record: AccessToken, jti: str) -> dict[str, Any]:
    """RFC 9068 section 2.2. ``aud`` is the RFC 8707 resource, or the issuer when the client named none
    (RFC 9068 asks for a default audience); ``sub`` is the client itself for client_credentials."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "exp": int(record.exp),
        "aud": record.resource or issuer,
        "sub": record.sub if record.sub is not None else record.client_id,
        "client_id": record.client_id,
        "iat": record.iat,
        "jti": jti,
    }
    if record.scope:
        claims["scope"] = record.scope
    return claims


def released_claims(sub: str, claims: Mapping[str, Any], scopes: frozenset[str]) -> dict[str, Any]:
    """The userinfo answer (OIDC Core 5.3.2): ``sub``, then what the granted scopes ask for and the host has."""
    released: dict[str, Any] = {"sub": sub}
    for scope, names in SCOPE_CLAIMS.items():
        if scope in scopes:
            released.update({name: claims[name] for name in names if claims.get(name) is not None})
    return released


def supported_claims() -> list[str]:
    return [*ID_TOKEN_CLAIMS, *(name for names in SCOPE_CLAIMS.values() for name in names)]
