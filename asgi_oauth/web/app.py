"""The mountable authorization server: ``Mount("/oauth", app=OAuthServer(settings, store=store))``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.routing import request_response
from starlette.types import Receive, Scope, Send

from ..clients import declared_clients
from ..errors import MethodNotAllowed, OAuthError, TemporarilyUnavailable
from ..models import Client
from ..protocol import grants as grant_fns
from ..protocol.context import ClientLookup, Context, PasswordVerifier
from ..protocol.introspect import introspect
from ..protocol.metadata import metadata
from ..protocol.params import Incoming
from ..protocol.ratelimit import Limiter
from ..protocol.revoke import revoke
from ..settings import OAuthSettings, load_settings
from ..store import Store, StoreUnavailable, store_from_settings
from ..types import Clock
from .authorize import AuthorizationEndpoint, UserResolver
from .consent import ConsentTokens
from .http import ClientGone, encode_json, header, peer, read_form, route_path, send_bytes, send_error, send_json
from .openapi import openapi_document
from .pages import ConsentRenderer, ErrorRenderer, default_consent_page, default_error_page

logger = logging.getLogger("asgi_oauth")

#: A back-channel endpoint: the authenticated-client protocol step; returns the JSON body (``None``: empty).
BackChannel = Callable[[Incoming], Awaitable[Any]]

_DOCUMENT_HEADERS = {"Cache-Control": "public, max-age=300"}


class OAuthServer:
    """An ASGI app serving /authorize, /token, /introspect, /revoke and RFC 8414 metadata where it is mounted.

    A mounted app gets no lifespan events, so the host owns the store: pass one and close it on
    shutdown (or call :meth:`aclose`). Without one, ``settings.redis_url`` picks Redis or memory.
    Run on its own (not mounted), it closes its store at lifespan shutdown.
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
            limiter=Limiter.from_settings(self.store, self.settings, clock=clock),
            clock=clock,
            password_verifier=password_verifier,
        )
        self.grants = grant_fns.enabled_grants(self.context)
        self.metadata = metadata(self.settings, list(self.grants))
        self.openapi = openapi_document(self.metadata)
        authorization = AuthorizationEndpoint(
            self.context,
            user_resolver=user_resolver,
            consent_tokens=ConsentTokens(
                self.settings.signing_keys, self.settings.consent_form_lifetime, self.store, clock
            ),
            scope_descriptions=scope_descriptions or {},
            consent_renderer=consent_renderer,
            error_renderer=error_renderer,
        )
        self._authorize = request_response(authorization)
        self._back_channel: dict[str, BackChannel] = {
            "/token": self._token,
            "/introspect": self._introspect,
            "/revoke": self._revoke,
        }
        self._documents: dict[str, bytes] = {
            "/.well-known/oauth-authorization-server": encode_json(self.metadata),
            "/openapi.json": encode_json(self.openapi),
        }

    @property
    def limiter(self) -> Limiter:
        """Failed-attempt limits, for the host app's own sign-in form to share."""
        return self.context.limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        # Exact paths, no pattern routing: these endpoints sit on the hot path of every token request.
        path = route_path(scope)
        endpoint = self._back_channel.get(path)
        if endpoint is not None:
            await self._serve_back_channel(endpoint, scope, receive, send)
        elif path == "/authorize":
            await self._authorize(scope, receive, send)
        elif path in self._documents:
            await self._serve_document(self._documents[path], scope, send)
        else:
            await send_json(send, 404, {"error": "invalid_request", "error_description": "no such endpoint"})

    async def aclose(self) -> None:
        await self.store.aclose()

    async def _serve_back_channel(self, endpoint: BackChannel, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a back-channel step; OAuth errors render per RFC 6749 section 5.2, a lost store as 503."""
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed("POST")
            params = await read_form(scope, receive, self.settings.max_body_size)
            body = await endpoint(Incoming(params, header(scope, b"authorization"), peer(scope)))
        except ClientGone:
            return
        except OAuthError as error:
            await send_error(send, error)
            return
        except StoreUnavailable as exc:
            logger.warning("store unavailable during %s: %s", scope["path"], exc)
            await send_error(send, TemporarilyUnavailable("the authorization server's store is unavailable"))
            return
        await send_json(send, 200, body)

    async def _serve_document(self, content: bytes, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, MethodNotAllowed("GET, HEAD"))
            return
        await send_bytes(
            send, 200, content, _DOCUMENT_HEADERS, media_type="application/json", head=scope["method"] == "HEAD"
        )

    async def _token(self, request: Incoming) -> Any:
        return (await grant_fns.token(self.context, self.grants, request)).body()

    async def _introspect(self, request: Incoming) -> Any:
        return await introspect(self.context, request)

    async def _revoke(self, request: Incoming) -> None:
        await revoke(self.context, request)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
