"""The mountable authorization server: ``Mount("/oauth", app=OAuthServer(settings, store=store))``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router, request_response
from starlette.types import Receive, Scope, Send

from ..clients import declared_clients
from ..errors import MethodNotAllowed, OAuthError, TemporarilyUnavailable
from ..models import Client, User, scope_set
from ..protocol import authorize
from ..protocol import grants as grant_fns
from ..protocol.context import ClientLookup, Context, PasswordVerifier
from ..protocol.introspect import introspect
from ..protocol.metadata import metadata
from ..protocol.params import Incoming, Params
from ..protocol.ratelimit import Limiter
from ..protocol.revoke import revoke
from ..settings import OAuthSettings, load_settings
from ..store import Store, StoreUnavailable, store_from_settings
from ..types import Clock
from .consent import ConsentTokens
from .forms import read_form
from .openapi import openapi_document
from .pages import (
    PAGE_HEADERS,
    ConsentRenderer,
    ConsentView,
    ErrorRenderer,
    ScopeLine,
    default_consent_page,
    default_error_page,
)
from .render import NO_STORE, error_response, json_response

logger = logging.getLogger("asgi_oauth")

Endpoint = Callable[[Request], Awaitable[Response]]
#: Returns the signed-in resource owner for a browser request, or ``None`` (then /authorize sends them to log in).
UserResolver = Callable[[Request], Awaitable[User | None]]


def _incoming(request: Request, params: Params) -> Incoming:
    peer = request.client.host if request.client is not None else None
    return Incoming(params, request.headers.get("authorization"), peer)


class _AnyMethod:
    """An endpoint as a plain ASGI object: Starlette routes those for every method (functions get GET only),
    so a wrong method reaches the endpoint and gets its RFC-shaped 405 instead of Starlette's plain text."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def _any_method(path: str, endpoint: Endpoint) -> Route:
    return Route(path, _AnyMethod(endpoint))


def _guarded(handler: Endpoint) -> Endpoint:
    """Render protocol errors per RFC 6749 section 5.2 and an unreachable store as 503; nothing else is caught."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as error:
            return error_response(error)
        except StoreUnavailable as exc:
            logger.warning("store unavailable during %s: %s", request.url.path, exc)
            return error_response(TemporarilyUnavailable("the authorization server's store is unavailable"))

    return endpoint


class OAuthServer:
    """An ASGI app serving /authorize, /token, /introspect, /revoke and RFC 8414 metadata where it is mounted.

    A mounted app gets no lifespan events, so the host owns the store: pass one and close it on
    shutdown (or call :meth:`aclose`). Without one, ``settings.redis_url`` picks Redis or memory.
    """

    def __init__(
        self,
        settings: OAuthSettings | None = None,
        *,
        store: Store | None = None,
        clients: Iterable[Client] = (),
        user_resolver: UserResolver | None = None,
        password_verifier: PasswordVerifier | None = None,
        scope_descriptions: Mapping[str, str] | None = None,
        consent_renderer: ConsentRenderer = default_consent_page,
        error_renderer: ErrorRenderer = default_error_page,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        if self.settings.enable_password_grant and password_verifier is None:
            raise ValueError("enable_password_grant is set, so OAuthServer needs a password_verifier")
        self.store = store if store is not None else store_from_settings(self.settings)
        self.context = Context(
            settings=self.settings,
            store=self.store,
            clients=ClientLookup(self.store, declared_clients(clients), cache_ttl=self.settings.client_cache_ttl),
            clock=clock,
            limiter=Limiter.from_settings(self.store, self.settings),
            password_verifier=password_verifier,
        )
        self.user_resolver = user_resolver
        self.scope_descriptions = dict(scope_descriptions or {})
        self.consent_renderer = consent_renderer
        self.error_renderer = error_renderer
        self.consent_tokens = ConsentTokens(
            self.settings.signing_keys, self.settings.consent_form_lifetime, self.store, clock
        )
        self.grants = grant_fns.enabled_grants(self.context)
        self.metadata = metadata(self.settings, list(self.grants))
        self.openapi = openapi_document(self.metadata)
        self._router = Router(
            routes=[
                _any_method("/authorize", self._authorize),
                _any_method("/token", _guarded(self._token)),
                _any_method("/introspect", _guarded(self._introspect)),
                _any_method("/revoke", _guarded(self._revoke)),
                Route("/.well-known/oauth-authorization-server", self._metadata, methods=["GET", "HEAD"]),
                Route("/openapi.json", self._openapi, methods=["GET", "HEAD"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._router(scope, receive, send)

    async def aclose(self) -> None:
        await self.store.aclose()

    async def _token(self, request: Request) -> Response:
        params = await read_form(request, self.settings.max_body_size)
        result = await grant_fns.token(self.context, self.grants, _incoming(request, params))
        return json_response(result.body(), headers=NO_STORE)

    async def _introspect(self, request: Request) -> Response:
        params = await read_form(request, self.settings.max_body_size)
        body: dict[str, Any] = await introspect(self.context, _incoming(request, params))
        return json_response(body, headers=NO_STORE)

    async def _revoke(self, request: Request) -> Response:
        params = await read_form(request, self.settings.max_body_size)
        await revoke(self.context, _incoming(request, params))
        return Response(b"", 200, headers=NO_STORE)

    async def _authorize(self, request: Request) -> Response:
        try:
            return await self._authorize_flow(request)
        except OAuthError as error:  # malformed query or form: nothing trustworthy to redirect to
            return self._error_page(error.description or error.error, error.status_code)
        except StoreUnavailable as exc:
            logger.warning("store unavailable during authorization: %s", exc)
            return self._error_page("The service is temporarily unavailable. Try again in a moment.", 503)

    async def _authorize_flow(self, request: Request) -> Response:
        if request.method == "GET":
            params = Params.parse(request.scope["query_string"])
        elif request.method == "POST":
            params = await read_form(request, self.settings.max_body_size)
        else:
            raise MethodNotAllowed("GET, POST")
        see_other = 303 if request.method == "POST" else 302
        try:
            req = await authorize.validate(self.context, params)
        except authorize.ErrorPage as page:
            return self._error_page(page.message, 400)
        except authorize.RedirectError as error:
            return RedirectResponse(error.redirect.url, see_other)
        user = await self.user_resolver(request) if self.user_resolver is not None else None
        if user is None:
            return self._to_login(request, req)
        csrf = params.get("csrf_token")
        if csrf is not None and request.method == "POST":
            if not await self.consent_tokens.redeem(csrf, user, req):
                return self._error_page(
                    "This consent form has expired or was already used. Go back to the application and try again.",
                    400,
                )
            if params.get("decision") != "allow":
                return RedirectResponse(authorize.deny(self.context, req).url, 303)
            if self.settings.consent_lifetime > 0:
                expires_at = self.context.clock() + self.settings.consent_lifetime
                await self.store.put_consent(user.sub, req.client.client_id, req.scope, expires_at=expires_at)
            return RedirectResponse((await authorize.approve(self.context, req, user)).url, 303)
        if req.client.first_party or await self._remembered(user, req):
            return RedirectResponse((await authorize.approve(self.context, req, user)).url, see_other)
        return self._consent_page(request, req, user)

    async def _remembered(self, user: User, req: authorize.AuthorizationRequest) -> bool:
        if self.settings.consent_lifetime <= 0:
            return False
        granted = await self.store.get_consent(user.sub, req.client.client_id)
        return granted is not None and scope_set(req.scope) <= scope_set(granted)

    def _to_login(self, request: Request, req: authorize.AuthorizationRequest) -> Response:
        if self.user_resolver is None:
            return self._error_page("Sign-in is not configured for this authorization server.", 500)
        back = f"{request.url.path}?{urlencode(req.params())}"
        login = self.settings.login_url
        return RedirectResponse(f"{login}{'&' if '?' in login else '?'}{urlencode({'next': back})}", 302)

    def _consent_page(self, request: Request, req: authorize.AuthorizationRequest, user: User) -> Response:
        lines = tuple(
            ScopeLine(scope, self.scope_descriptions.get(scope, scope)) for scope in sorted(scope_set(req.scope))
        )
        hidden = {**req.params(), "csrf_token": self.consent_tokens.issue(user, req)}
        view = ConsentView(req.client.name, req.client.client_id, user, lines, request.url.path, hidden)
        return HTMLResponse(self.consent_renderer(view), 200, headers=PAGE_HEADERS)

    def _error_page(self, message: str, status: int) -> Response:
        return HTMLResponse(self.error_renderer(message), status, headers=PAGE_HEADERS)

    async def _metadata(self, request: Request) -> Response:
        return json_response(self.metadata)

    async def _openapi(self, request: Request) -> Response:
        return json_response(self.openapi)
