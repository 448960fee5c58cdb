"""How people sign in at ``/authorize``: one hook, three ways, each given to ``OAuthServer(sign_in=...)``.

* :class:`PasswordSignIn`: a styled sign-in page served under the mount (``<mount>/login``) over a
  :data:`~asgi_oauth.PasswordVerifier` of yours, with the server's failed-attempt limits and known-device
  cookies; for small deployments that keep their own user list.
* :class:`HostSignIn`: the host application's own sign-in: a resolver reading its session, and the URL of its
  sign-in page (which sends the browser back to ``next``).
* :class:`OpenIDSignIn`: an upstream OpenID provider the host already signs its users in with; the page
  redirects there (code flow with PKCE and a nonce) and keeps the user it names.

The first and the last keep who signed in in a signed cookie (``SECRET_KEY``, itsdangerous) scoped to the
mount's path, holding the subject, the name and the sign-in time (OpenID Connect's ``auth_time``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import crypto
from ..errors import TooManyAttempts
from ..known_devices import COOKIE_NAME as DEVICE_COOKIE
from ..known_devices import KnownDevices
from ..models import User
from ..protocol.context import PasswordVerifier
from ..settings import SettingsError, is_loopback
from .authorize import UserResolver
from .pages import PAGE_HEADERS, hidden_inputs, page

if TYPE_CHECKING:
    from .app import OAuthServer

logger = logging.getLogger("asgi_oauth")


@dataclass(frozen=True, slots=True)
class SignInHook:
    """What a sign-in gives the server: who is signed in, where to send a browser that is not, and the
    endpoints it serves under the mount (path relative to the mount -> ASGI app)."""

    resolver: UserResolver
    login_url: str
    endpoints: Mapping[str, ASGIApp] = field(default_factory=dict)


class SignIn(Protocol):
    """A way to sign people in; :meth:`attach` is called once, by the server it serves."""

    def attach(self, server: OAuthServer) -> SignInHook: ...


class HostSignIn:
    """The host application's own sign-in: ``resolver`` reads its session; ``login_url`` is its sign-in page,
    which gets a ``next`` parameter to send the browser back to once signed in."""

    def __init__(self, resolver: UserResolver, login_url: str) -> None:
        self.resolver = resolver
        self.login_url = login_url

    def attach(self, server: OAuthServer) -> SignInHook:
        return SignInHook(self.resolver, self.login_url)


class _Sessions:
    """Who signed in, in a signed cookie scoped to the mount: ``[sub, username, auth_time]``."""

    COOKIE = "asgi_oauth_session"

    def __init__(self, server: OAuthServer, lifetime: float) -> None:
        keys = list(reversed(server.settings.signing_keys))  # itsdangerous signs with the last key
        self._serializer = URLSafeTimedSerializer(keys, salt="asgi_oauth.sign-in")
        self.lifetime = lifetime
        self.mount = urlsplit(server.settings.issuer).path
        self.secure = urlsplit(server.settings.issuer).scheme == "https"

    async def user(self, request: Request) -> User | None:
        try:
            data = self._serializer.loads(request.cookies.get(self.COOKIE, ""), max_age=round(self.lifetime))
        except BadSignature:  # also an expired, altered or absent cookie
            return None
        if not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], str):
            return None
        sub, username, auth_time = data
        return User(sub, username if isinstance(username, str) else None, float(auth_time))

    def signed_in(self, response: Response, user: User) -> None:
        value = self._serializer.dumps([user.sub, user.username, time.time()])
        response.set_cookie(
            self.COOKIE,
            value,
            max_age=round(self.lifetime),
            path=self.mount or "/",
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )

    def back(self, target: str | None) -> str:
        """Where to return after signing in: only a path under the mount (no open redirect)."""
        if target and target.startswith(f"{self.mount}/") and not target.startswith("//") and "\\" not in target:
            return target
        return f"{self.mount}/authorize"


def _same_origin(request: Request, issuer: str) -> bool:
    """A form post from this server's own pages: ``Origin`` (sent by browsers on every POST) matches, or none
    was sent and ``Sec-Fetch-Site`` does not say cross-site (against login CSRF)."""
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(issuer)
        return origin == f"{parts.scheme}://{parts.netloc}"
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _endpoint(handler: Callable[[Request], Awaitable[Response]], methods: tuple[str, ...]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in methods:
            response: Response = Response(status_code=405, headers={"Allow": ", ".join(methods)})
        else:
            response = await handler(Request(scope, receive))
        await response(scope, receive, send)

    return app


def sign_in_page(title: str, back: str, *, message: str = "", username: str = "") -> str:
    """The styled sign-in form (one text and one password input, the hidden ``next``)."""
    note = f'<p class="who" role="alert">{escape(message)}</p>' if message else ""
    body = (
        f"<h1>{escape(title)}</h1>{note}"
        f'<form method="post">{hidden_inputs({"next": back})}'
        '<p><label>User name<br><input name="username" autocomplete="username" required '
        f'value="{escape(username)}" style="width:100%;font:inherit;padding:.4rem"></label></p>'
        '<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required '
        'style="width:100%;font:inherit;padding:.4rem"></label></p>'
        '<div class="actions"><button type="submit" class="allow">Sign in</button></div></form>'
    )
    return page(title, body)


class PasswordSignIn:
    """A sign-in page at ``<mount>/login`` over ``verify(username, password)``, your check of a password.

    Failed attempts count in the server's limits (per user and place, per address, per user from unknown
    places: "Failed attempts" in the documentation), and a browser that signed in as a user gets a known-device
    cookie so the user is not locked out by someone guessing elsewhere. A session lasts ``lifetime`` seconds.
    """

    def __init__(self, verify: PasswordVerifier, *, title: str = "Sign in", lifetime: float = 3600.0) -> None:
        self.verify = verify
        self.title = title
        self.lifetime = lifetime

    def attach(self, server: OAuthServer) -> SignInHook:
        sessions = _Sessions(server, self.lifetime)
        devices = KnownDevices.from_settings(server.settings)
        issuer = server.settings.issuer

        async def login(request: Request) -> Response:
            if request.method == "GET":
                back = sessions.back(request.query_params.get("next"))
                return HTMLResponse(sign_in_page(self.title, back), headers=PAGE_HEADERS)
            form = await request.form()
            back = sessions.back(str(form.get("next") or ""))
            username, password = str(form.get("username") or ""), str(form.get("password") or "")
            if not _same_origin(request, issuer):
                return HTMLResponse(sign_in_page(self.title, back, message="Sign in from this page."), 403)
            cookie = request.cookies.get(DEVICE_COOKIE)
            attempt = devices.user_attempt(username, request.client.host if request.client else None, cookie)
            try:
                known = await server.limiter.check(attempt)
                user = await self.verify(username, password) if username and password else None
                if user is None:
                    await server.limiter.failed(attempt)
                    page_ = sign_in_page(self.title, back, message="Wrong user name or password.", username=username)
                    return HTMLResponse(page_, 401, headers=PAGE_HEADERS)
                await server.limiter.succeeded(attempt, known=known)
            except TooManyAttempts as refused:
                message = f"Too many failed attempts. Try again in {refused.retry_after} seconds."
                headers = {**PAGE_HEADERS, "Retry-After": str(refused.retry_after)}
                return HTMLResponse(sign_in_page(self.title, back, message=message), 429, headers=headers)
            response = RedirectResponse(back, 303)
            sessions.signed_in(response, user if user.username else User(user.sub, username, user.auth_time))
            response.set_cookie(
                DEVICE_COOKIE,
                devices.remember(cookie, attempt.principal),
                max_age=round(server.settings.known_device_lifetime),
                path=sessions.mount or "/",
                httponly=True,
                secure=sessions.secure,
                samesite="lax",
            )
            return response

        return SignInHook(sessions.user, f"{sessions.mount}/login", {"/login": _endpoint(login, ("GET", "POST"))})


class OpenIDSignIn:
    """Sign in through an upstream OpenID provider (OpenID Connect Core, code flow with PKCE and a nonce).

    Register this server at the provider as a confidential client whose redirect URI is
    ``<issuer>/login/callback``. The ID token comes straight from the provider's token endpoint over TLS,
    so its issuer, audience, expiry and nonce are checked and its signature is not (Core section 3.1.3.7,
    step 6): no JOSE library is needed. The user is the provider's ``sub``; the name shown is its
    ``preferred_username``, ``email`` or ``name``. Needs httpx (the ``remote`` extra).
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str = "openid profile email",
        lifetime: float = 3600.0,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.lifetime = lifetime
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None

    def attach(self, server: OAuthServer) -> SignInHook:
        try:
            import httpx  # noqa: F401 (the remote extra, checked at start-up rather than at the first sign-in)
        except ImportError:
            raise SettingsError("OpenIDSignIn needs httpx: pip install 'asgi-oauth[remote]'") from None
        parts = urlsplit(self.issuer)
        insecure = server.settings.allow_insecure_transport or is_loopback(parts.hostname)
        if parts.scheme != "https" and not (parts.scheme == "http" and insecure):
            raise SettingsError(f"OpenIDSignIn: the provider's issuer must be https, not {self.issuer!r}")
        sessions = _Sessions(server, self.lifetime)
        pending = URLSafeTimedSerializer(list(reversed(server.settings.signing_keys)), salt="asgi_oauth.upstream")
        callback = f"{server.settings.issuer}/login/callback"
        cookie_path = f"{sessions.mount}/login"

        async def start(request: Request) -> Response:
            metadata = await self._discover()
            if metadata is None:
                return self._failed("The identity provider cannot be reached. Try again in a moment.", 503)
            state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": callback,
                "scope": self.scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            if request.query_params.get("prompt") == "login":
                query["prompt"] = "login"
            target = str(metadata["authorization_endpoint"])
            response = RedirectResponse(f"{target}{'&' if '?' in target else '?'}{urlencode(query)}", 302)
            remembered = pending.dumps([state, nonce, verifier, sessions.back(request.query_params.get("next"))])
            response.set_cookie(
                "asgi_oauth_upstream", remembered, max_age=600, path=cookie_path, httponly=True,
                secure=sessions.secure, samesite="lax",
            )  # fmt: skip
            return response

        async def finish(request: Request) -> Response:
            try:
                remembered = request.cookies.get("asgi_oauth_upstream", "")
                state, nonce, verifier, back = pending.loads(remembered, max_age=600)
            except (BadSignature, ValueError, TypeError):
                return self._failed("This sign-in has expired. Go back to the application and try again.")
            given = request.query_params
            if not secrets.compare_digest(str(given.get("state", "")), str(state)):
                return self._failed("This sign-in does not match the one started here. Try again.")
            if "code" not in given:
                return self._failed(f"The sign-in was not completed ({given.get('error', 'no code')}).")
            user = await self._exchange(str(given["code"]), callback, str(verifier), str(nonce))
            if user is None:
                return self._failed("The identity provider's answer could not be used. Try again.")
            response = RedirectResponse(str(back), 303)
            sessions.signed_in(response, user)
            response.delete_cookie("asgi_oauth_upstream", path=cookie_path)
            return response

        endpoints = {"/login": _endpoint(start, ("GET",)), "/login/callback": _endpoint(finish, ("GET",))}
        return SignInHook(sessions.user, f"{sessions.mount}/login", endpoints)

    @staticmethod
    def _failed(message: str, status: int = 400) -> Response:
        body = page("Sign-in failed", f"<h1>Sign-in failed</h1><p>{escape(message)}</p>")
        return HTMLResponse(body, status, headers=PAGE_HEADERS)

    async def _discover(self) -> dict[str, Any] | None:
        """The provider's metadata, fetched once; ``None`` (logged) while it cannot be had."""
        if self._metadata is None:
            import httpx

            try:
                async with httpx.AsyncClient(timeout=self.timeout) as http:
                    answer = await http.get(f"{self.issuer}/.well-known/openid-configuration")
                metadata = answer.json() if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as exc:
                logger.warning("upstream sign-in: no metadata from %s: %s", self.issuer, exc)
                return None
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                logger.warning("upstream sign-in: %s serves no metadata for that issuer", self.issuer)
                return None
            self._metadata = metadata
        return self._metadata

    async def _exchange(self, code: str, callback: str, verifier: str, nonce: str) -> User | None:
        import httpx

        metadata = await self._discover()
        if metadata is None:
            return None
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": callback, "code_verifier": verifier}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                answer = await http.post(
                    str(metadata["token_endpoint"]), data=form, auth=(self.client_id, self.client_secret)
                )
            tokens = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("upstream sign-in: the token request failed: %s", exc)
            return None
        if not isinstance(tokens, dict):
            logger.warning("upstream sign-in: the token endpoint answered %s", answer.status_code)
            return None
        claims = _unverified_claims(tokens.get("id_token"))
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if (
            claims.get("iss") != self.issuer
            or self.client_id not in audiences
            or not isinstance(claims.get("sub"), str)
            or not isinstance(claims.get("exp"), int | float)
            or claims["exp"] < time.time()
            or not secrets.compare_digest(str(claims.get("nonce", "")), nonce)
        ):
            logger.warning("upstream sign-in: the ID token's iss, aud, sub, exp or nonce is not acceptable")
            return None
        names = (claims[k] for k in ("preferred_username", "email", "name") if isinstance(claims.get(k), str))
        name = next(names, None)
        return User(claims["sub"], name, time.time())


def _unverified_claims(id_token: object) -> dict[str, Any]:
    """The payload of a compact JWS received directly from the token endpoint; ``{}`` when it is not one."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(crypto.unb64url(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}
