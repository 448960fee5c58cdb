"""The demo behind ``asgi-oauth serve``: the server mounted at ``/oauth`` plus the pieces a real host provides.

The host side (sign-in page, session cookie, user resolver, password check) is deliberately small and
self-contained, to show what an application has to hand to :class:`~asgi_oauth.OAuthServer`. The demo
also plays a client (``/start`` and ``/callback``) so the authorization code flow can be walked in a
browser without any other software.

:func:`create_demo_app` is the app (also a uvicorn factory); :func:`prepare_serve` does everything
``serve`` must check or set up before uvicorn starts, so the CLI only parses and prints.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import secrets
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.middleware import Middleware as StarletteMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import crypto
from .cimd.documents import DocumentError
from .clients import ClientExists, new_client, register_client
from .discovery import publish_discovery
from .errors import OAuthError, TooManyAttempts
from .features import load_features
from .features.device import DEVICE_CODE_GRANT
from .features.dpop import resource_side
from .features.oidc import OpenIDConnect
from .known_devices import COOKIE_NAME as DEVICE_COOKIE
from .known_devices import KnownDevices
from .middleware import BearerTokenMiddleware, LocalValidator, protect
from .models import Client, User
from .operations.events import json_lines
from .protocol.context import ClientLookup
from .protocol.params import Params
from .protocol.ratelimit import Limiter
from .settings import ENV_PREFIX, OAuthSettings, SettingsError, load_settings
from .store import Store, StoreUnavailable, store_from_settings
from .web.app import OAuthServer
from .web.http import ClientGone, peer, read_form, request_url
from .web.pages import STYLE

#: Where the demo mounts the server; the default issuer ends with it.
MOUNT_PATH = "/oauth"
WELL_KNOWN = "/.well-known/oauth-authorization-server"
#: Import string for uvicorn (``factory=True``): each worker builds its own app and Redis pool.
APP_FACTORY = "asgi_oauth.demo:create_demo_app"

DEMO_CLIENT_ID = "demo-client"
DEMO_SCOPE = "profile email read write"
#: What the consent page says each of the demo client's scopes allows.
DEMO_SCOPE_DESCRIPTIONS = {
    "profile": "See your user name",
    "email": "See your email address",
    "read": "Read your data",
    "write": "Change your data",
}
#: With ``ENABLE_OIDC`` the demo client is registered for these too (OpenID Connect sign-in, refreshable);
#: the server describes them on the consent page.
DEMO_OIDC_SCOPE = "openid offline_access"
DEMO_USERS_ENV = f"{ENV_PREFIX}DEMO_USERS"
DEFAULT_DEMO_USERS = "alice:wonderland,bob:builder"

SESSION_COOKIE = "asgi_oauth_demo_session"
SESSION_MAX_AGE = 8 * 3600
#: Holds the demo client's ``state`` and PKCE verifier between /start and /callback, as a real client would.
FLOW_COOKIE = "asgi_oauth_demo_flow"
FLOW_MAX_AGE = 600
_MAX_FORM_BYTES = 8 * 1024

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # Not "no-referrer": under it browsers send "Origin: null" on same-site form posts, which the
    # login CSRF check must refuse. "same-origin" still keeps URLs from leaking to other sites.
    "Referrer-Policy": "same-origin",
}
SITE_TITLE = "asgi-oauth demo"
# The consent and error pages' look, widened for commands. A <pre> keeps its lines as they are (commands
# come split at their options) and scrolls rather than breaking a token, which would change what is copied.
_CSS = STYLE + (
    "main{max-width:44rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}"
    "pre{background:#eef0f4;border-radius:8px;padding:.75rem 1rem;overflow-x:auto;white-space:pre;"
    "font-size:.85rem;line-height:1.5}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem}dt{font-weight:600}"
    "dd{margin:0;overflow-wrap:anywhere}.ok{color:#006100}"
    "footer{text-align:center;font-size:.9rem;margin:-2.5rem 0 2rem}"
)


# -- settings helpers -----------------------------------------------------------------------------


def parse_demo_users(raw: str) -> dict[str, str]:
    """Parse ``"alice:wonderland,bob:builder"``; a malformed entry fails naming the variable."""
    users: dict[str, str] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, password = entry.partition(":")
        if not sep or not name.strip() or not password:
            raise SettingsError(f"{DEMO_USERS_ENV}: each entry must be name:password, separated by commas")
        users[name.strip()] = password
    if not users:
        raise SettingsError(f"{DEMO_USERS_ENV}: no users given; use name:password,name:password")
    return users


def demo_users_from_env(environ: Mapping[str, str] = os.environ) -> tuple[dict[str, str], bool]:
    """The demo users and whether they are the built-in defaults (the banner then prints their passwords)."""
    raw = environ.get(DEMO_USERS_ENV)
    if raw is None or not raw.strip():
        return parse_demo_users(DEFAULT_DEMO_USERS), True
    return parse_demo_users(raw), False


def url_host(host: str) -> str:
    """The host part of a URL a browser can open for a listen address (wildcards become loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (translating the wildcard, not binding to it)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def default_issuer(host: str, port: int) -> str:
    return f"http://{url_host(host)}:{port}{MOUNT_PATH}"


def site_url(settings: OAuthSettings) -> str:
    """The demo's own base URL: the issuer without the mount path (so a proxy-set issuer carries over)."""
    return settings.issuer.removesuffix(MOUNT_PATH)


def redact_url(url: str) -> str:
    """``url`` with any password replaced, so it can be printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def authorize_url(settings: OAuthSettings, state: str, challenge: str) -> str:
    """The demo client's authorization request (code flow with S256 PKCE)."""
    query = {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": f"{site_url(settings)}/callback",
        "scope": DEMO_SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{settings.issuer}/authorize?{urlencode(query)}"


def _set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int, path: str = "/") -> None:
    """HttpOnly, SameSite=Lax, and Secure whenever the site is served over https."""
    secure = request_url(request.scope).scheme == "https"
    response.set_cookie(name, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="lax")


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge, as the demo client sends them."""
    verifier = secrets.token_urlsafe(48)
    return verifier, crypto.pkce_challenge(verifier, "S256")


def _banner_mac(key: str, purpose: str, nonce: str) -> str:
    mac = hmac.new(key.encode(), f"asgi_oauth.demo.banner.{purpose}\0{nonce}".encode(), hashlib.sha256)
    return crypto.b64url(mac.digest())


def banner_flow(settings: OAuthSettings) -> tuple[str, str]:
    """The ``state`` and PKCE verifier of the authorization URL ``serve`` prints.

    Opening that URL sets no /start cookie, so both derive from the signing key instead: the state is a
    random nonce with its MAC, the verifier another MAC of the nonce. /callback, on any worker, recognises
    the state and shows the verifier; the state alone, which travels through the browser, does not give it away.
    """
    nonce = secrets.token_urlsafe(12)
    key = settings.signing_keys[0]
    return f"{nonce}.{_banner_mac(key, 'state', nonce)}", _banner_mac(key, "verifier", nonce)


def banner_verifier(settings: OAuthSettings, state: str) -> str | None:
    """The verifier of a :func:`banner_flow` state (made with any of the signing keys), else ``None``."""
    nonce, _, mac = state.partition(".")
    for key in settings.signing_keys:
        if hmac.compare_digest(mac.encode(), _banner_mac(key, "state", nonce).encode()):
            return _banner_mac(key, "verifier", nonce)
    return None


# -- the demo client ------------------------------------------------------------------------------


def demo_client(settings: OAuthSettings) -> tuple[Client, str]:
    """The confidential client ``serve`` registers into an empty store, with its plain secret."""
    grants = ["authorization_code", "refresh_token", "client_credentials"]
    if settings.enable_password_grant:
        grants.append("password")
    if "device" in settings.named_features:  # so the device flow can be tried with the demo client too
        grants.append(DEVICE_CODE_GRANT)
    client, secret = new_client(
        name="asgi-oauth demo client",
        client_id=DEMO_CLIENT_ID,
        grant_types=grants,
        redirect_uris=[f"{site_url(settings)}/callback"],
        scope=f"{DEMO_SCOPE} {DEMO_OIDC_SCOPE}" if settings.enable_oidc else DEMO_SCOPE,
    )
    if secret is None:  # new_client gives every confidential client one; fail loudly if that ever changes
        raise RuntimeError("the demo client was created without a secret")
    return client, secret


async def ensure_demo_client(store: Store, settings: OAuthSettings) -> tuple[Client, str] | None:
    """Register the demo client unless the store has it; ``None`` when it did (its secret is then unknown).

    Other clients in the store do not matter: the demo's pages (/start, /callback) need this one.
    """
    if await store.get_client(DEMO_CLIENT_ID) is not None:
        return None
    client, secret = demo_client(settings)
    try:
        await register_client(store, client)
    except ClientExists:
        return None
    return client, secret


# -- the host application's side ------------------------------------------------------------------


def _serializer(settings: OAuthSettings, purpose: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with all; our settings list the newest first.
    return URLSafeTimedSerializer(list(reversed(settings.signing_keys)), salt=f"asgi_oauth.demo.{purpose}")


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in; anything that could leave the site becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _page(title: str, body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    home = title == SITE_TITLE
    full_title = title if home else f"{title} · {SITE_TITLE}"
    footer = "" if home else '<footer><p><a href="/">Home</a></p></footer>'
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(full_title)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main>{footer}</body></html>"
    )
    return HTMLResponse(document, status, headers={**_PAGE_HEADERS, **(headers or {})})


async def _read_small_form(request: Request) -> Params | None:
    """The sign-in form, read with the server's own rules (and a small size cap); ``None`` if unacceptable."""
    try:
        return await read_form(request.scope, request.receive, _MAX_FORM_BYTES)
    except (OAuthError, ClientGone):
        return None


class DemoHost:
    """Sign-in, session and the demo client's pages: what an application using asgi_oauth writes itself."""

    def __init__(self, settings: OAuthSettings, users: Mapping[str, str], limiter: Limiter) -> None:
        self.settings = settings
        self.users = dict(users)
        #: Failed sign-ins count per user name and place, shared with the server's limits.
        self.limiter = limiter
        self.devices = KnownDevices.from_settings(settings)
        #: The server's client lookup, set once the server is built: the sign-in page names the application.
        self.clients: ClientLookup | None = None
        self._sessions = _serializer(settings, "session")
        self._flows = _serializer(settings, "flow")
        # Compared against when the user name is unknown, so both cases cost the same.
        self._dummy = secrets.token_bytes(16)

    # The two hooks handed to OAuthServer.
    async def resolve_user(self, request: Request) -> User | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            # The cookie is signed at sign-in, so its timestamp is OpenID Connect's auth_time.
            name, signed_at = self._sessions.loads(raw, max_age=SESSION_MAX_AGE, return_timestamp=True)
        except BadSignature:
            return None
        if not isinstance(name, str) or name not in self.users:
            return None
        return User(sub=name, auth_time=signed_at.timestamp())

    async def user_claims(self, sub: str, scopes: frozenset[str]) -> dict[str, object]:
        """OpenID Connect claims of a demo user (the server releases those the granted scopes ask for)."""
        return {"name": sub.title(), "preferred_username": sub, "email": f"{sub}@example.com", "email_verified": False}

    async def verify_password(self, username: str, password: str) -> User | None:
        expected = self.users.get(username)
        given = password.encode("utf-8", "surrogatepass")
        ok = hmac.compare_digest(given, expected.encode("utf-8") if expected is not None else self._dummy)
        return User(sub=username) if ok and expected is not None else None

    # Pages.
    async def index(self, request: Request) -> Response:
        user = await self.resolve_user(request)
        if user is None:
            who = '<p>You are not signed in. <a href="/login">Sign in</a> as a demo user.</p>'
        else:
            who = (
                f"<p>Signed in as <strong>{html.escape(user.sub)}</strong>.</p>"
                '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
            )
        issuer = self.settings.issuer
        # Signing in is offered once, in the sentence above, and only to someone signed out.
        links = [
            ("/start", f"Start the authorization code flow (PKCE) as {DEMO_CLIENT_ID}"),
            (f"{MOUNT_PATH}{WELL_KNOWN}", "Server metadata under the mount"),
            (f"{WELL_KNOWN}{urlsplit(issuer).path}", "Server metadata at its RFC 8414 location"),
            ("/api/me", "GET /api/me (needs a bearer token)"),
        ]
        if "device" in self.settings.named_features:
            links.insert(1, (f"{MOUNT_PATH}/device", "Connect a device: enter the code a device shows (RFC 8628)"))
        items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for href, text in links)
        body = (
            f"{who}<p>Issuer: <code>{html.escape(issuer)}</code></p><ul>{items}</ul>"
            "<p>A token for the demo client without a browser:</p>"
            f"<pre>{html.escape(client_credentials_curl(issuer, '$DEMO_CLIENT_SECRET', split=True))}</pre>"
            "<p><code>DEMO_CLIENT_SECRET</code> is the secret printed when the server registered the client.</p>"
        )
        return _page(SITE_TITLE, body)

    async def _signing_in_for(self, next_path: str) -> str:
        """What the sign-in is for, from where it leads: the application asking (a registered client's name
        and id, never text from the URL alone), a device, or this site."""
        target = urlsplit(next_path)
        if target.path == f"{MOUNT_PATH}/device":
            return "<p>Sign in to connect a device to your account.</p>"
        client = None
        if target.path == f"{MOUNT_PATH}/authorize" and self.clients is not None:
            try:  # what /authorize itself will refuse (a repeated client_id, an unknown one) names nobody here
                client_id = Params.parse(target.query.encode()).get("client_id")
                client = await self.clients.get(client_id) if client_id else None
            except (OAuthError, DocumentError, StoreUnavailable):
                client = None
        if client is None:
            return f"<p>Sign in to the {html.escape(SITE_TITLE)}.</p>"
        return (
            f"<p>Sign in to continue to <strong>{html.escape(client.name)}</strong>.</p>"
            f'<p class="client">Application id <code>{html.escape(client.client_id)}</code></p>'
        )

    async def _login_form(self, next_path: str, error: str = "", status: int = 200) -> Response:
        message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        body = (
            f"{await self._signing_in_for(next_path)}"
            f'{message}<form method="post" action="/login">'
            f'<input type="hidden" name="next" value="{html.escape(next_path)}">'
            '<label for="username">User name</label>'
            '<input id="username" name="username" autocomplete="username" required autofocus>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password" required>'
            '<div class="actions"><button type="submit" class="allow">Sign in</button></div></form>'
            f"<p>Demo users: {html.escape(', '.join(sorted(self.users)))}.</p>"
        )
        return _page("Sign in", body, status)

    async def login(self, request: Request) -> Response:
        if request.method != "POST":
            return await self._login_form(safe_next(request.query_params.get("next")))
        if not self._same_origin(request):
            # Login CSRF: another site must not sign the browser in to an account of its choosing.
            return await self._login_form("/", "Sign-in forms are only accepted from this site.", 403)
        form = await _read_small_form(request)
        if form is None:
            return await self._login_form("/", "The form could not be read; please try again.", 400)
        next_path = safe_next(form.get("next"))
        username = form.get("username") or ""
        device_cookie = request.cookies.get(DEVICE_COOKIE)
        attempt = self.devices.user_attempt(username, peer(request.scope), device_cookie)
        try:
            known = await self.limiter.check(attempt)
            user = await self.verify_password(username, form.get("password") or "")
            if user is None:
                await self.limiter.failed(attempt)
                return await self._login_form(next_path, "Wrong user name or password.", 401)
            await self.limiter.succeeded(attempt, known=known)
        except TooManyAttempts as blocked:
            message = f"Too many failed sign-ins. Try again in {blocked.retry_after} seconds."
            response = await self._login_form(next_path, message, 429)
            response.headers["Retry-After"] = str(blocked.retry_after)
            return response
        except StoreUnavailable:
            return await self._login_form(next_path, "Sign-in is temporarily unavailable; try again shortly.", 503)
        response = RedirectResponse(next_path, status_code=303)
        _set_cookie(response, request, SESSION_COOKIE, self._sessions.dumps(user.sub), max_age=SESSION_MAX_AGE)
        # This browser is now a known device of the user: guessing the password elsewhere won't refuse it.
        device = self.devices.remember(device_cookie, attempt.principal)
        _set_cookie(response, request, DEVICE_COOKIE, device, max_age=round(self.devices.max_age))
        return response

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:  # not sent by every client (curl); browsers send it on cross-site POSTs
            return True
        url = request_url(request.scope)
        own = {f"{url.scheme}://{url.netloc}", _origin(site_url(self.settings))}
        return origin in own

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def start(self, request: Request) -> Response:
        """Act as the demo client: remember state and PKCE verifier, send the browser to /authorize."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        response = RedirectResponse(authorize_url(self.settings, state, challenge), status_code=303)
        flow = self._flows.dumps({"state": state, "verifier": verifier})
        _set_cookie(response, request, FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE, path="/callback")
        return response

    def _flow(self, request: Request) -> dict[str, str]:
        raw = request.cookies.get(FLOW_COOKIE)
        if not raw:
            return {}
        try:
            flow = self._flows.loads(raw, max_age=FLOW_MAX_AGE)
        except BadSignature:
            return {}
        if not isinstance(flow, dict):
            return {}
        return {k: v for k, v in flow.items() if isinstance(k, str) and isinstance(v, str)}

    async def callback(self, request: Request) -> Response:
        """Show what the authorization server sent back, and how to exchange the code."""
        params = request.query_params
        flow = self._flow(request)
        rows = []
        for name in ("code", "state", "iss", "error", "error_description"):
            value = params.get(name)
            if value is not None:
                rows.append(f"<dt>{name}</dt><dd><code>{html.escape(value)}</code></dd>")
        checks = []
        state = params.get("state")
        verifier = None
        if state is not None:
            # The state /start remembered in its cookie, or the one in the authorization URL serve printed.
            if flow.get("state") and hmac.compare_digest(flow["state"].encode(), state.encode()):
                verifier, sent_by = flow.get("verifier"), "/start sent"
            else:
                verifier, sent_by = banner_verifier(self.settings, state), "in the authorization URL serve printed"
            checks.append(
                _check(
                    verifier is not None,
                    f"state matches the one {sent_by}",
                    "state matches neither /start's nor serve's authorization URL: do not use this",
                )
            )
        iss = params.get("iss")
        if iss is not None:
            same = iss == self.settings.issuer
            checks.append(_check(same, "iss is this server's issuer (RFC 9207)", "iss is NOT this server's issuer"))
        body = f"<dl>{''.join(rows) or '<dt>nothing</dt><dd>No parameters were received.</dd>'}</dl>"
        body += "".join(checks)
        code = params.get("code")
        if code is not None and not params.get("error"):
            curl = _code_curl(site_url(self.settings), self.settings.issuer, code, verifier or "<the code_verifier>")
            lifetime = f"{self.settings.authorization_code_lifetime:g}"
            body += (
                "<h2>Exchange the code</h2>"
                f"<p>The code works once and expires {lifetime} seconds after it was issued "
                f"(<code>{ENV_PREFIX}AUTHORIZATION_CODE_LIFETIME</code>, 60 by default), so run this soon, "
                "in the shell where <code>DEMO_CLIENT_SECRET</code> holds the secret printed at start-up:</p>"
                f"<pre>{html.escape(curl)}</pre>"
            )
        return _page("Authorization response", body)

    async def api_me(self, request: Request) -> Response:
        """Behind the bearer middleware (``/api`` rule), so a valid token is already on ``request.state``."""
        token = request.state.token
        return JSONResponse(
            {"sub": token.sub, "client_id": token.client_id, "scopes": sorted(request.state.scopes)},
            headers={"Cache-Control": "no-store"},
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check(ok: bool, good: str, bad: str) -> str:
    return f'<p class="ok">✓ {html.escape(good)}</p>' if ok else f'<p class="error">✗ {html.escape(bad)}</p>'


def _command(parts: list[str], split: bool) -> str:
    """One line, or one part per line with ``\\`` continuations: still one command when pasted into a shell."""
    return " \\\n    ".join(parts) if split else " ".join(parts)


def _demo_client_auth(secret: str) -> str:
    """curl's ``-u`` for the demo client: the secret itself, or a ``$VARIABLE`` the shell expands."""
    user = f"{DEMO_CLIENT_ID}:{secret}"
    return f'-u "{user}"' if secret.startswith("$") else f"-u {shlex.quote(user)}"


def client_credentials_curl(issuer: str, secret: str, scope: str = "read", *, split: bool = False) -> str:
    parts = [
        f"curl -s {_demo_client_auth(secret)}",
        f"-d grant_type=client_credentials -d {shlex.quote('scope=' + scope)}",
    ]
    return _command([*parts, shlex.quote(issuer + "/token")], split)


def device_curls(issuer: str, secret: str, scope: str = "read") -> tuple[str, str]:
    """The demo client's device flow by hand (RFC 8628): start one, then poll with the shell's ``$DEVICE_CODE``."""
    auth = _demo_client_auth(secret)
    start = f"curl -s {auth} -d {shlex.quote('scope=' + scope)} {shlex.quote(issuer + '/device_authorization')}"
    poll = f'curl -s {auth} -d grant_type={DEVICE_CODE_GRANT} -d "device_code=$DEVICE_CODE"'
    return start, f"{poll} {shlex.quote(issuer + '/token')}"


def _code_curl(site: str, issuer: str, code: str, verifier: str) -> str:
    parts = [
        f'curl -s -u "{DEMO_CLIENT_ID}:$DEMO_CLIENT_SECRET" -d grant_type=authorization_code',
        f"--data-urlencode {shlex.quote('code=' + code)}",
        f"--data-urlencode {shlex.quote('redirect_uri=' + site + '/callback')}",
        f"--data-urlencode {shlex.quote('code_verifier=' + verifier)}",
        shlex.quote(issuer + "/token"),
    ]
    return _command(parts, split=True)


class _WorkerHeader:
    """Adds ``X-Demo-Worker: <pid>`` so a multi-worker demo shows which process answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"x-demo-worker", str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_pid)


def create_demo_app(
    settings: OAuthSettings | None = None,
    store: Store | None = None,
    *,
    users: Mapping[str, str] | None = None,
) -> Starlette:
    """The demo: server at ``/oauth``, metadata at its RFC 8414 location, sign-in, callback, ``/api/me``.

    Called without arguments (uvicorn ``factory=True``) it reads the environment, builds its own store
    and closes it on shutdown; a passed ``store`` stays the caller's to close. It registers no client:
    ``asgi-oauth serve`` does that before start (see :func:`prepare_serve`).
    """
    settings = settings if settings is not None else load_settings()
    users = users if users is not None else demo_users_from_env()[0]
    owned = store is None
    store = store if store is not None else store_from_settings(settings)
    host = DemoHost(settings, users, Limiter.from_settings(store, settings))
    server = OAuthServer(
        settings,
        store=store,
        user_resolver=host.resolve_user,
        password_verifier=host.verify_password,
        scope_descriptions=DEMO_SCOPE_DESCRIPTIONS,
        # The features the settings name, OpenID Connect's with the demo users' claims for /userinfo.
        features=[
            OpenIDConnect(feature.settings, user_claims=host.user_claims)
            if isinstance(feature, OpenIDConnect)
            else feature
            for feature in load_features(settings, None)
        ],
        # Every event as one JSON line on the asgi_oauth.events logger (serve prints it on stdout).
        events=[json_lines()],
    )
    host.limiter.events = server.events  # refused sign-ins are reported too
    host.clients = server.context.clients

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await server.events.drain()
            if owned:
                await store.aclose()

    routes = [
        Route("/", host.index, methods=["GET", "HEAD"]),
        Route("/login", host.login, methods=["GET", "HEAD", "POST"]),
        Route("/logout", host.logout, methods=["GET", "POST"]),
        Route("/start", host.start, methods=["GET"]),
        Route("/callback", host.callback, methods=["GET", "HEAD"]),
        Route("/api/me", host.api_me, methods=["GET", "HEAD"]),
        Mount(MOUNT_PATH, app=server),
    ]
    publish_discovery(routes, server)  # the metadata at /.well-known/oauth-authorization-server/oauth and co.
    middleware = [
        StarletteMiddleware(_WorkerHeader),
        StarletteMiddleware(
            BearerTokenMiddleware,
            validator=LocalValidator(store),
            rules=[protect("/api")],
            realm=settings.realm,
            # /api is an RFC 9728 protected resource: its metadata names this server, and 401s point there.
            resource=f"{site_url(settings)}/api",
            authorization_servers=[settings.issuer],
            scopes_supported=DEMO_SCOPE.split(),
            resource_name="asgi-oauth demo API",
            # The demo's own client and the documentation's curl ask for no resource (RFC 8707), so their tokens
            # name none; a real resource server leaves this off and accepts only tokens issued for it.
            allow_unbound_tokens=True,
            # With the dpop feature on, /api accepts DPoP-bound tokens with their proofs (RFC 9449 section 7).
            dpop=resource_side(server.features),
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.oauth_server = server
    return app
