"""OpenID Connect's HTTP side: ``/userinfo`` (OIDC Core 5.3), ``/jwks`` (the ``jwks_uri``), the discovery keys,
and the signed freshness marker that carries ``prompt=login`` through the host's sign-in page.

The signing itself lives in :mod:`.keys` (PyJWT, the ``oidc`` extra), imported only where keys are used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.types import Receive, Scope, Send

from ...errors import MethodNotAllowed, OAuthError
from ...middleware import INVALID, MALFORMED, TWO_METHODS, UNAVAILABLE, Denial, bearer_token
from ...models import scope_set
from ...protocol.introspect import find_access_token
from ...settings import OAuthSettings
from ...store import StoreUnavailable
from ...web.http import NO_STORE, ClientGone, encode_json, read_form, send_bytes, send_error, send_json
from . import protocol as oidc
from .settings import OIDCSettings

if TYPE_CHECKING:
    from ...web.app import OAuthServer
    from .keys import KeyRing

logger = logging.getLogger("asgi_oauth")

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_NO_USER = Denial(401, "invalid_token", "the access token was issued to a client, not for a user")
_NOT_OPENID = Denial(403, "insufficient_scope", "the access token was not granted the openid scope", "openid")


def discovery_keys(settings: OIDCSettings) -> dict[str, Any]:
    """What OpenID Connect Discovery 1.0 section 3 adds to the RFC 8414 document: exactly what is supported."""
    return {
        "scopes_supported": list(oidc.OIDC_SCOPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.oidc_signing_alg],
        "claims_supported": oidc.supported_claims(),
        "prompt_values_supported": list(oidc.PROMPTS),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,  # its default is true: say it is not
    }


class FreshSignIn:
    """A signed marker saying "a sign-in counts as fresh only after now", bound to the request's ``nonce``.

    ``prompt=login`` (and an unmet ``max_age``) send the browser to the host's sign-in page; the authorization
    request comes back through ``next`` carrying this marker, so the server can tell a new sign-in (the
    host's ``auth_time`` after the marker) from the old session, and never loops: a marker that is still
    not satisfied answers ``login_required``.

    The marker signs a digest of the nonce, not the nonce: a signer's output starts with the signed value
    as it is, and the nonce may be any Unicode, while the marker must stay short URL-safe ASCII.
    """

    def __init__(self, settings: OAuthSettings) -> None:
        # itsdangerous signs with the last key and verifies with all; the settings list the newest first.
        self._signer = TimestampSigner(list(reversed(settings.signing_keys)), salt="asgi_oauth.oidc.fresh-after")
        self._max_age = round(settings.consent_form_lifetime)

    def issue(self, nonce: str) -> str:
        return self._signer.sign(_nonce_digest(nonce)).decode("ascii")

    def since(self, marker: str | None, nonce: str) -> float | None:
        """When the marker was made, if it is ours, live and for this ``nonce``; else ``None``."""
        if marker is None:
            return None
        try:
            value, made = self._signer.unsign(marker, max_age=self._max_age, return_timestamp=True)
        except BadSignature:
            return None
        return made.timestamp() if hmac.compare_digest(value, _nonce_digest(nonce)) else None


def _nonce_digest(nonce: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(nonce.encode("utf-8")).digest()).rstrip(b"=")


class UserInfo:
    """``GET``/``POST /userinfo``: the signed-in user's claims for an access token granted ``openid``.

    The token comes in ``Authorization: Bearer`` or, for POST, as the ``access_token`` form field (RFC 6750
    2.1 and 2.2, one way only). Failures are RFC 6750 section 3 challenges; an unreachable store is a 503.
    """

    def __init__(self, server: OAuthServer, user_claims: oidc.UserClaims | None) -> None:
        self.server = server
        self.realm = server.settings.realm
        self.user_claims = user_claims

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._answer(scope, receive)
        except ClientGone:
            return
        except OAuthError as error:  # the form body: too large, malformed; or the method
            if error.status_code == 400:  # RFC 6750 section 3: no usable token, so a Bearer challenge too
                await self._refuse(scope, receive, send, Denial(400, error.error, error.description))
                return
            await send_json(send, error.status_code, error.body(), {**NO_STORE, **error.headers()})
            return
        if isinstance(body, Denial):
            await self._refuse(scope, receive, send, body)
            return
        await send_json(send, 200, body)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, denial: Denial) -> None:
        await denial.response(self.realm)(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> dict[str, Any] | Denial:
        method = scope["method"]
        if method not in ("GET", "POST"):
            raise MethodNotAllowed("GET, POST")
        token = bearer_token(scope)
        if method == "POST" and _is_form(scope):
            form = await read_form(scope, receive, self.server.settings.max_body_size)
            in_body = form.get("access_token")
            if in_body is not None:
                if token is not None:
                    return TWO_METHODS
                token = in_body if bearer_token_shape(in_body) else MALFORMED
        if isinstance(token, Denial):
            return token
        if token is None:
            return Denial(401)
        ctx = self.server.context
        try:
            access = await find_access_token(ctx.store, token, ctx.clock())
        except StoreUnavailable as exc:
            logger.warning("store unavailable during userinfo: %s", exc)
            return UNAVAILABLE
        if access is None:
            return INVALID
        scopes = scope_set(access.scope)
        if oidc.OPENID not in scopes:
            return _NOT_OPENID
        if access.sub is None:
            return _NO_USER
        claims: Mapping[str, Any] = {}
        if self.user_claims is not None:
            claims = await self.user_claims(access.sub, scopes)
        return oidc.released_claims(access.sub, claims, scopes)


def _is_form(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/x-www-form-urlencoded")
    return False


def bearer_token_shape(value: str) -> bool:
    """Whether a form-body token has the RFC 6750 section 2.1 b64token shape, as a header token must."""
    return _B64TOKEN.fullmatch(value) is not None


class JWKS:
    """``GET /jwks``: the public keys ID tokens and JWT access tokens are verified with (RFC 7517 JWK Set).

    Generated keys are read from the store on each request, so a key another worker rotated in is published
    everywhere at once; clients may cache the set for a minute.
    """

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, MethodNotAllowed("GET, HEAD"))
            return
        keys = self.keys
        try:
            document = await keys.jwks()
        except StoreUnavailable as exc:
            logger.warning("store unavailable during jwks: %s", exc)
            body = {"error": "temporarily_unavailable", "error_description": "the key store is unavailable"}
            await send_json(send, 503, body)
            return
        await send_bytes(
            send,
            200,
            encode_json(document),
            {"Cache-Control": "public, max-age=60"},
            media_type="application/jwk-set+json",  # RFC 7517 section 8.5
            head=scope["method"] == "HEAD",
        )


def _bearer_refusal(description: str) -> dict[str, Any]:
    error = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
    challenge = {"description": "RFC 6750 section 3 challenge", "schema": {"type": "string"}}
    return {
        "description": description,
        "headers": {"WWW-Authenticate": challenge},
        "content": {"application/json": {"schema": error}},
    }


def userinfo_path(server: OAuthServer) -> dict[str, Any]:
    """The OpenAPI path item of ``/userinfo``: a bearer token in, the claims its scopes release out."""
    claims = {"type": "object", "required": ["sub"], "properties": {"sub": {"type": "string"}}}
    responses: dict[str, Any] = {
        "200": {"description": "the user's claims", "content": {"application/json": {"schema": claims}}},
        "400": _bearer_refusal("malformed token, or sent two ways"),
        "401": _bearer_refusal("no token, or an invalid, expired or revoked one"),
        "403": _bearer_refusal("the token was not granted openid"),
        "503": {"description": "the store is unavailable"},
    }
    header = [{"name": "Authorization", "in": "header", "required": False, "schema": {"type": "string"}}]
    summary = "UserInfo (OpenID Connect Core 1.0 section 5.3)"
    form = {"type": "object", "properties": {"access_token": {"type": "string"}}}
    post = {"summary": summary, "parameters": header, "responses": responses}
    post["requestBody"] = {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": form}}}
    return {"get": {"summary": summary, "parameters": header, "responses": responses}, "post": post}


def jwks_path(server: OAuthServer) -> dict[str, Any]:
    """The OpenAPI path item of ``/jwks``: the JWK Set (RFC 7517 section 5)."""
    key_set = {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}
    ok = {"description": "the public signing keys", "content": {"application/jwk-set+json": {"schema": key_set}}}
    return {"get": {"summary": "JWK Set", "responses": {"200": ok, "503": {"description": "store unavailable"}}}}
