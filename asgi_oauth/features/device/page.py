"""The verification page of the device authorization grant (RFC 8628 section 3.3): enter the code, sign in, decide.

``GET /device`` shows a form for the user code (anyone may see it); it submits to ``GET /device?user_code=...``,
which is also the ``verification_uri_complete`` a device may show as a QR code. That URL sends a browser without
a signed-in user to the host's sign-in (``LOGIN_URL`` with ``next``) and back; for a signed-in user it looks the
code up and shows what the device asks for, with the code to compare against the device's screen (RFC 8628
section 5.4: a user must not approve a code a stranger sent them). "Allow" or "Deny" posts the decision.

Guessing codes is bounded by the failed-attempt limits (:mod:`asgi_oauth.protocol.ratelimit`): an unknown code counts as
a failed attempt of the signed-in user from the browser's place (its known-device cookie, else its address),
so a guesser is refused after a few tries while the user, at places where they signed in before, is not. The
decision form carries a signed, expiring, single-use token bound to the user and to the device request; the
pages are never framed or cached.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Literal
from urllib.parse import urlencode

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...errors import OAuthError, TooManyAttempts
from ...known_devices import COOKIE_NAME, KnownDevices
from ...models import User, scope_set
from ...protocol.context import Context
from ...protocol.params import Params
from ...protocol.ratelimit import Attempt
from ...store import StoreUnavailable
from ...web.authorize import NO_SIGN_IN, UserResolver
from ...web.http import peer, read_form, request_url
from ...web.pages import PAGE_HEADERS, ErrorRenderer, ScopeLine, hidden_inputs, page, scope_list
from . import protocol as device
from .store import DeviceFound, DeviceStore

logger = logging.getLogger("asgi_oauth")


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What a verification page template needs, at each of its three steps.

    ``enter``: a form (``GET`` to ``action``) with a ``user_code`` field, ``error`` saying why the last code was
    refused. ``consent``: the request a code named (client, scopes, the code itself) and a ``POST`` form to
    ``action`` carrying ``hidden`` unchanged plus ``decision`` (``allow`` or ``deny``). ``done``: the decision
    was recorded (``approved`` says which); the user goes back to the device.
    """

    step: Literal["enter", "consent", "done"]
    action: str
    user: User | None = None
    user_code: str = ""
    error: str = ""
    client_name: str = ""
    client_id: str = ""
    scopes: tuple[ScopeLine, ...] = ()
    hidden: Mapping[str, str] = field(default_factory=dict)
    approved: bool = False


#: What draws the ``/device`` page (``DeviceAuthorization(renderer=...)``): a function from the view to HTML.
DeviceRenderer = Callable[[DeviceView], str]


def default_device_page(view: DeviceView) -> str:
    """The built-in look of the three steps, matching the consent page."""
    if view.step == "enter":
        error = f'<p class="error" role="alert">{escape(view.error)}</p>' if view.error else ""
        body = (
            "<h1>Connect a device</h1><p>Enter the code your device shows.</p>"
            f'{error}<form method="get" action="{escape(view.action)}">'
            '<label for="user_code">Code</label>'
            f'<input id="user_code" name="user_code" value="{escape(view.user_code)}" autocomplete="off" '
            'autocapitalize="characters" spellcheck="false" required autofocus>'
            '<div class="actions"><button type="submit" class="allow">Continue</button></div></form>'
        )
        return page("Connect a device", body)
    if view.step == "done":
        outcome = "is now connected" if view.approved else "was not given access"
        body = (
            f"<h1>Done</h1><p><strong>{escape(view.client_name)}</strong> {outcome}.</p>"
            "<p>You can close this page and go back to your device.</p>"
        )
        return page("Device connected" if view.approved else "Access denied", body)
    scopes = scope_list(view.scopes)
    hidden = hidden_inputs(view.hidden)
    who = escape(view.user.username or view.user.sub) if view.user is not None else ""
    body = (
        f"<h1>A device wants to access your account as <strong>{escape(view.client_name)}</strong></h1>"
        f'<p class="who">Signed in as {who}</p>'
        f'<p class="client">Application id <code>{escape(view.client_id)}</code></p>'
        f"<p>Check that your device shows <strong><code>{escape(view.user_code)}</code></strong>. "
        "If you did not start this on a device of yours, deny it.</p>"
        f'{scopes}<form method="post" action="{escape(view.action)}">{hidden}'
        '<div class="actions">'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        '<button type="submit" name="decision" value="allow" class="allow">Allow</button>'
        "</div></form>"
    )
    return page(f"Connect {view.client_name}", body)


class DecisionTokens:
    """CSRF tokens for the decision form: signed, expiring, single use, bound to the user and the device request.

    The token also carries where the request is stored and the client's name, so the decision needs no second
    lookup.
    """

    def __init__(self, keys: tuple[str, ...], lifetime: float, ctx: Context) -> None:
        self._serializer = URLSafeTimedSerializer(list(reversed(keys)), salt="asgi_oauth.device")
        self._lifetime = lifetime
        self._ctx = ctx

    def issue(self, user: User, found: DeviceFound, client_name: str) -> str:
        where = [found.family_id, found.device_digest, client_name]
        return self._serializer.dumps([user.sub, *where, secrets.token_urlsafe(16)])

    async def redeem(self, token: str, user: User) -> tuple[str, str, str] | None:
        """(family id, device digest, client name) when ``token`` is this user's, unexpired and unused; it is
        used up now."""
        try:
            payload = self._serializer.loads(token, max_age=max(1, round(self._lifetime)))
        except BadData:
            return None
        if not (isinstance(payload, list) and len(payload) == 5 and all(isinstance(p, str) for p in payload)):
            return None
        sub, family_id, device_digest, client_name, nonce = payload
        if not hmac.compare_digest(sub.encode(), user.sub.encode()):
            return None
        expires_at = self._ctx.clock() + self._lifetime + 1
        if not await self._ctx.store.claim_once(f"device:{nonce}", expires_at=expires_at):
            return None
        return family_id, device_digest, client_name


class DeviceVerification:
    """The ``/device`` page (a Starlette endpoint); see the module docstring for the steps."""

    def __init__(
        self,
        ctx: Context,
        devices: DeviceStore,
        *,
        user_resolver: UserResolver | None,
        scope_descriptions: Mapping[str, str],
        renderer: DeviceRenderer,
        error_renderer: ErrorRenderer,
        login_url: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.store = devices
        self.user_resolver = user_resolver
        self.login_url = login_url if login_url is not None else ctx.settings.login_url
        self.scope_descriptions = dict(scope_descriptions)
        self.renderer = renderer
        self.error_renderer = error_renderer
        settings = ctx.settings
        self.tokens = DecisionTokens(settings.signing_keys, settings.consent_form_lifetime, ctx)
        self.devices = KnownDevices.from_settings(settings)

    async def __call__(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return await self._decide(request)
            return await self._show(request)
        except TooManyAttempts as blocked:
            message = f"Too many wrong codes. Try again in {blocked.retry_after} seconds."
            headers = {"Retry-After": str(blocked.retry_after)}
            return self._render(DeviceView("enter", request_url(request.scope).path, error=message), 429, headers)
        except OAuthError as error:
            return self._error_page(error.description or error.error, error.status_code)
        except StoreUnavailable as exc:
            logger.warning("store unavailable during device verification: %s", exc)
            return self._error_page("The service is temporarily unavailable. Try again in a moment.", 503)

    async def _user(self, request: Request) -> User | None:
        return await self.user_resolver(request) if self.user_resolver is not None else None

    def _attempt(self, request: Request, user: User) -> Attempt:
        """A code entry as the limiter counts it: the signed-in user, from the browser's known device or address."""
        name = user.username or user.sub
        return self.devices.user_attempt(name, peer(request.scope), request.cookies.get(COOKIE_NAME))

    async def _show(self, request: Request) -> Response:
        path = request_url(request.scope).path
        params = Params.parse(request.scope["query_string"])
        typed = params.get("user_code")
        if typed is None:
            return self._render(DeviceView("enter", path))
        user = await self._user(request)
        if user is None:
            return self._to_login(request, typed)
        if device.normalize_user_code(typed) is None:
            view = DeviceView("enter", path, user, typed, "That is not a code of this service. Check it and retry.")
            return self._render(view, 400)
        attempt = self._attempt(request, user)
        await self.ctx.limiter.check(attempt)  # a refused place never reaches the lookup
        found = await device.find_pending(self.ctx, self.store, typed)
        if found is None:
            await self.ctx.limiter.failed(attempt)
            view = DeviceView("enter", path, user, typed, "That code is not valid, or it has expired.")
            return self._render(view, 400)
        # No limiter.succeeded: a right code is no proof of the user's own secret (anyone can get one by starting
        # a device authorization), so it must not make this place known to the user as a sign-in does.
        client = await self.ctx.clients.get(found.grant.client_id)
        if client is None:
            return self._error_page("The application that asked for this code is no longer registered.", 400)
        lines = tuple(
            ScopeLine(scope, self.scope_descriptions.get(scope, scope))
            for scope in sorted(scope_set(found.grant.scope))
        )
        code = device.normalize_user_code(typed) or typed
        view = DeviceView(
            "consent",
            path,
            user,
            device.display_user_code(code),
            client_name=client.name,
            client_id=client.client_id,
            scopes=lines,
            hidden={"csrf_token": self.tokens.issue(user, found, client.name)},
        )
        return self._render(view)

    async def _decide(self, request: Request) -> Response:
        path = request_url(request.scope).path
        form = await read_form(request.scope, request.receive, self.ctx.settings.max_body_size)
        user = await self._user(request)
        if user is None:
            return self._to_login(request, None)
        where = await self.tokens.redeem(form.get("csrf_token") or "", user)
        if where is None:
            return self._error_page(
                "This form has expired or was already used. Enter the code from your device again.", 400
            )
        family_id, device_digest, client_name = where
        approve = form.get("decision") == "allow"
        if not await device.decide(self.store, family_id, device_digest, user, approve=approve):
            return self._error_page("This code has expired or was already used. Start again on your device.", 400)
        view = DeviceView("done", path, user, client_name=client_name, approved=approve)
        return self._render(view)

    def _to_login(self, request: Request, typed: str | None) -> Response:
        if self.user_resolver is None:
            return self._error_page(NO_SIGN_IN, 503)
        back = request_url(request.scope).path + (f"?{urlencode({'user_code': typed})}" if typed else "")
        login = self.login_url
        return RedirectResponse(f"{login}{'&' if '?' in login else '?'}{urlencode({'next': back})}", 302)

    def _render(self, view: DeviceView, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return HTMLResponse(self.renderer(view), status, headers={**PAGE_HEADERS, **(headers or {})})

    def _error_page(self, message: str, status: int) -> Response:
        return HTMLResponse(self.error_renderer(message), status, headers=PAGE_HEADERS)
