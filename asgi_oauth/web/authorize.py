"""The browser side of /authorize: sign-in hand-off, consent page, and the redirect back to the client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..errors import MethodNotAllowed, OAuthError
from ..models import User, scope_set
from ..protocol import authorize
from ..protocol.context import Context
from ..protocol.params import Params
from ..store import StoreUnavailable
from .consent import ConsentTokens
from .http import read_form, request_url
from .pages import PAGE_HEADERS, ConsentRenderer, ConsentView, ErrorRenderer, ScopeLine

logger = logging.getLogger("asgi_oauth")

#: Returns the signed-in resource owner for a browser request, or ``None`` (then /authorize sends them to log in).
UserResolver = Callable[[Request], Awaitable[User | None]]
#: The page a browser gets when the server was given no way to sign people in (its log says what to pass).
NO_SIGN_IN = "Sign-in is not configured for this authorization server."


class AuthorizationEndpoint:
    def __init__(
        self,
        ctx: Context,
        response_types: Mapping[str, authorize.ResponseTypeSpec],
        *,
        user_resolver: UserResolver | None,
        consent_tokens: ConsentTokens,
        scope_descriptions: Mapping[str, str],
        consent_renderer: ConsentRenderer,
        error_renderer: ErrorRenderer,
        login_url: str | None = None,
    ) -> None:
        self.ctx = ctx
        #: Where a browser without a signed-in user goes (the sign-in hook's page, else ``LOGIN_URL``).
        self.login_url = login_url if login_url is not None else ctx.settings.login_url
        self.response_types = response_types
        self.user_resolver = user_resolver
        self.consent_tokens = consent_tokens
        self.scope_descriptions = dict(scope_descriptions)
        self.consent_renderer = consent_renderer
        self.error_renderer = error_renderer

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._flow(request)
        except OAuthError as error:  # malformed query or form: nothing trustworthy to redirect to
            return self._error_page(error.description or error.error, error.status_code, error.headers())
        except StoreUnavailable as exc:
            logger.warning("store unavailable during authorization: %s", exc)
            return self._error_page("The service is temporarily unavailable. Try again in a moment.", 503)

    async def _flow(self, request: Request) -> Response:
        ctx = self.ctx
        if request.method == "GET":
            params = Params.parse(request.scope["query_string"])
        elif request.method == "POST":
            params = await read_form(request.scope, request.receive, ctx.settings.max_body_size)
        else:
            raise MethodNotAllowed("GET, POST")
        see_other = 303 if request.method == "POST" else 302
        try:
            req = await self._validate(params)
        except authorize.ErrorPage as page:
            return self._error_page(page.message, 400)
        except authorize.RedirectError as error:
            return RedirectResponse(error.redirect.url, see_other)
        try:
            return await self._decide(request, params, req, see_other)
        except authorize.ErrorPage as page:  # a feature refused to answer (authorization_done)
            return self._error_page(page.message, 400)

    async def _validate(self, params: Params) -> authorize.AuthorizationRequest:
        """The request as validated, after the features had their say about its parameters."""
        sent, continuation = params, None
        for feature in self.ctx.features:
            given = await feature.authorization_params(self.ctx, params)
            if given is not None:
                params = given.params
                continuation = given.continuation if given.continuation is not None else continuation
        req = await authorize.validate(self.ctx, params, self.response_types, sent=sent)
        return req if continuation is None else replace(req, continuation=continuation)

    async def _answered(self, req: authorize.AuthorizationRequest) -> None:
        for feature in self.ctx.features:
            await feature.authorization_done(self.ctx, req)

    async def _decide(
        self, request: Request, params: Params, req: authorize.AuthorizationRequest, see_other: int
    ) -> Response:
        ctx = self.ctx
        user = await self.user_resolver(request) if self.user_resolver is not None else None
        try:
            for feature in ctx.features:
                again = await feature.authorization_user(ctx, req, user)
                if again is not None:
                    return self._to_login(request, again.request, again.query)
        except OAuthError as error:
            return await self._redirect_error(req, error, see_other)
        if user is None:
            return self._to_login(request, req)
        csrf = params.get("csrf_token")
        if csrf is not None and request.method == "POST":
            if not await self.consent_tokens.redeem(csrf, user, req):
                return self._error_page(
                    "This consent form has expired or was already used. Go back to the application and try again.",
                    400,
                )
            await self._answered(req)
            if params.get("decision") != "allow":
                return RedirectResponse(authorize.deny(ctx, req).url, 303)
            if ctx.settings.consent_lifetime > 0:
                expires_at = ctx.clock() + ctx.settings.consent_lifetime
                await ctx.store.put_consent(user.sub, req.client.client_id, req.scope, expires_at=expires_at)
            return RedirectResponse((await authorize.approve(ctx, req, user)).url, 303)
        known = req.client.first_party or await self._remembered(user, req)
        try:
            for feature in ctx.features:  # OpenID Connect's prompt=consent asks anyway; prompt=none never asks
                known = await feature.authorization_consent(ctx, req, known=known)
        except OAuthError as error:
            return await self._redirect_error(req, error, see_other)
        if known:
            await self._answered(req)
            return RedirectResponse((await authorize.approve(ctx, req, user)).url, see_other)
        return self._consent_page(request, req, user)

    async def _redirect_error(self, req: authorize.AuthorizationRequest, error: OAuthError, status: int) -> Response:
        """An error answered to the client: the request is done, as after a code or a denial."""
        await self._answered(req)
        target = authorize.error_redirect(self.ctx, req.redirect_uri, error, req.state, fragment=req.fragment)
        return RedirectResponse(target.url, status)

    async def _remembered(self, user: User, req: authorize.AuthorizationRequest) -> bool:
        if self.ctx.settings.consent_lifetime <= 0:
            return False
        granted = await self.ctx.store.get_consent(user.sub, req.client.client_id)
        return granted is not None and scope_set(req.scope) <= scope_set(granted)

    def _to_login(
        self, request: Request, req: authorize.AuthorizationRequest, hints: Mapping[str, str] | None = None
    ) -> Response:
        """To the host's sign-in page, coming back to this request; ``hints`` tell the page what the client asked
        for (OpenID Connect's ``login_hint``, ``prompt=login``)."""
        if self.user_resolver is None:
            return self._error_page(NO_SIGN_IN, 503)
        back = f"{request_url(request.scope).path}?{urlencode(req.params())}"
        login = self.login_url
        query = {"next": back, **(hints or {})}
        return RedirectResponse(f"{login}{'&' if '?' in login else '?'}{urlencode(query)}", 302)

    def _consent_page(self, request: Request, req: authorize.AuthorizationRequest, user: User) -> Response:
        lines = tuple(
            ScopeLine(scope, self.scope_descriptions.get(scope, scope)) for scope in sorted(scope_set(req.scope))
        )
        hidden = {**req.params(), "csrf_token": self.consent_tokens.issue(user, req)}
        view = ConsentView(
            req.client.name,
            req.client.client_id,
            user,
            lines,
            request_url(request.scope).path,
            hidden,
            req.redirect_uri,
        )
        return HTMLResponse(self.consent_renderer(view), 200, headers=PAGE_HEADERS)

    def _error_page(self, message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
        return HTMLResponse(self.error_renderer(message), status, headers={**PAGE_HEADERS, **(headers or {})})
