"""The mountable authorization server: ``Mount("/oauth", app=OAuthServer(settings, store=store))``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..cimd.documents import Fetcher, MetadataDocuments
from ..clients import declared_clients
from ..cors import CORS, RESPONSE_HEADERS, from_origin, is_preflight, preflight_headers, send_preflight
from ..environment import warn_unknown_variables
from ..errors import MethodNotAllowed, OAuthError, TemporarilyUnavailable
from ..extras import check_settings
from ..features import Feature, load_features, registrable_methods, store_of
from ..gc_tuning import tune_gc
from ..models import Client
from ..operations.events import EventHook, Events
from ..protocol.authorize import DEFAULT_RESPONSE_TYPES, ResponseTypeSpec, enabled_response_types
from ..protocol.context import ClientLookup, Context, PasswordVerifier
from ..protocol.grants import DEFAULT_GRANTS, GrantSpec, enabled_grants
from ..protocol.metadata import metadata
from ..protocol.params import Params
from ..protocol.ratelimit import Limiter
from ..settings import OAuthSettings, load_settings
from ..store import Store, StoreUnavailable, store_from_settings
from ..types import Clock

if TYPE_CHECKING:
    from ..operations.metrics import Metrics
from ..operations.health import operations_endpoints
from .authorize import AuthorizationEndpoint, UserResolver
from .consent import ConsentTokens
from .endpoints import DEFAULT_ENDPOINTS, Admission, EndpointRequest, EndpointSpec, Handler, enabled_endpoints
from .http import (
    ERROR_KEY,
    FORM_TYPE,
    NO_STORE,
    ClientGone,
    encode_json,
    header,
    peer,
    read_body,
    read_json,
    route_path,
    send_error,
    send_json,
)
from .openapi import openapi_document
from .pages import ConsentRenderer, ErrorRenderer, default_consent_page, default_error_page
from .signin import SignIn, SignInHook

logger = logging.getLogger("asgi_oauth")

_NO_PARAMS = Params({})


class OAuthServer:
    """An ASGI app serving /authorize, /token, /introspect, /revoke and RFC 8414 metadata where it is mounted.

    A mounted app gets no lifespan events, so the host owns the store: pass one and close it on
    shutdown (or call :meth:`aclose`). Without one, ``settings.redis_url`` picks Redis or memory.
    Run on its own (not mounted), it closes its store at lifespan shutdown.

    What it serves comes from three registries, each defaulting to the built-ins: ``grants``
    (:data:`~asgi_oauth.protocol.grants.DEFAULT_GRANTS`), ``response_types``
    (:data:`~asgi_oauth.protocol.authorize.DEFAULT_RESPONSE_TYPES`) and ``endpoints``
    (:data:`~asgi_oauth.web.endpoints.DEFAULT_ENDPOINTS`). Pass ``[*DEFAULT_GRANTS, mine]`` to add one;
    each entry decides from the settings whether it is on, and routing, the metadata document and the
    OpenAPI document list exactly the entries that are.

    Operations: ``events=[hook, ...]`` receives every :class:`~asgi_oauth.operations.events.Event` (fire and forget);
    :meth:`revoke_user` and :meth:`revoke_client` end everything of an owner; liveness and readiness probes
    and, with ``settings.metrics``, a Prometheus endpoint are served under the mount
    (:mod:`asgi_oauth.operations.health`).
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
        grants: Iterable[GrantSpec] | None = None,
        response_types: Iterable[ResponseTypeSpec] | None = None,
        endpoints: Iterable[EndpointSpec] | None = None,
        document_fetcher: Fetcher | None = None,
        events: Iterable[EventHook] = (),
        sign_in: SignIn | None = None,
        features: Iterable[Feature] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        warn_unknown_variables()
        check_settings(self.settings, own_fetcher=document_fetcher is not None)
        if self.settings.enable_password_grant and password_verifier is None:
            raise ValueError("enable_password_grant is set, so OAuthServer needs a password_verifier")
        if sign_in is not None and user_resolver is not None:
            raise ValueError("pass sign_in or user_resolver, not both (HostSignIn(user_resolver, login_url) wraps one)")
        self.store = store if store is not None else store_from_settings(self.settings)
        #: The switched-on features (``features=``, else those ``ASGI_OAUTH_FEATURES`` names).
        self.features = load_features(self.settings, features)
        #: Prometheus metrics when ``settings.metrics`` is on (:mod:`asgi_oauth.operations.metrics`), else ``None``.
        self.metrics: Metrics | None = None
        if self.settings.metrics:
            from ..operations.metrics import Metrics

            self.metrics = Metrics()
        #: The event hooks (:mod:`asgi_oauth.operations.events`), fed by every protocol step.
        self.events = Events(events, counter=self.metrics.count_event if self.metrics is not None else None)
        self.context = Context(
            settings=self.settings,
            store=self.store,
            clients=ClientLookup(
                self.store,
                declared_clients(clients),
                cache_ttl=self.settings.client_cache_ttl,
                documents=self._documents(document_fetcher),
            ),
            limiter=Limiter.from_settings(self.store, self.settings, clock=clock, events=self.events),
            clock=clock,
            password_verifier=password_verifier,
            events=self.events,
            features=self.features,
        )
        for feature in self.features:
            feature.attach(self, store_of(feature, self))
        self._registries(grants, response_types, endpoints)
        #: How people sign in (``sign_in=``), or ``None`` with a bare ``user_resolver`` and ``LOGIN_URL``.
        self.sign_in: SignInHook | None = sign_in.attach(self) if sign_in is not None else None
        self.authorization = self._authorization(
            user_resolver, scope_descriptions or {}, consent_renderer, error_renderer, clock
        )
        self._documents_served(scope_descriptions or {})
        # Built last: the documents serve the metadata and OpenAPI above.
        self._routes: dict[str, ASGIApp] = {spec.path: self._serve(spec) for spec in self.endpoints}
        for path, app in (self.sign_in.endpoints if self.sign_in is not None else {}).items():
            self._routes.setdefault(path, app)
        if self.settings.tune_gc:
            tune_gc()

    def _registries(
        self,
        grants: Iterable[GrantSpec] | None,
        response_types: Iterable[ResponseTypeSpec] | None,
        endpoints: Iterable[EndpointSpec] | None,
    ) -> None:
        """The enabled grants, response types and endpoints: the built-ins (or those given), then the features'."""
        features = self.features
        given_grants = DEFAULT_GRANTS if grants is None else grants
        self.grants = enabled_grants(self.settings, [*given_grants, *(g for f in features for g in f.grants())])
        self.response_types = enabled_response_types(
            self.settings, DEFAULT_RESPONSE_TYPES if response_types is None else response_types
        )
        self.endpoints = enabled_endpoints(
            self.settings,
            [
                *(DEFAULT_ENDPOINTS if endpoints is None else endpoints),
                *operations_endpoints(self.settings),
                *(spec for feature in features for spec in feature.endpoints()),
            ],
        )

    def _authorization(
        self,
        user_resolver: UserResolver | None,
        scope_descriptions: Mapping[str, str],
        consent_renderer: ConsentRenderer,
        error_renderer: ErrorRenderer,
        clock: Clock,
    ) -> AuthorizationEndpoint:
        """``/authorize``, signing people in through the sign-in hook (or the bare ``user_resolver``)."""
        login_url = None
        if self.sign_in is not None:
            user_resolver, login_url = self.sign_in.resolver, self.sign_in.login_url
        elif user_resolver is None and "code" in self.response_types:
            logger.warning(
                "OAuthServer has no sign_in (or user_resolver): /authorize cannot sign anyone in and answers 503; "
                "pass sign_in=PasswordSignIn(verify), HostSignIn(resolver, login_url) or OpenIDSignIn(...)"
            )
        # The features' scopes (OpenID Connect's) read as what they allow unless the host says otherwise.
        described = {key: text for feature in self.features for key, text in feature.scope_descriptions().items()}
        described.update(scope_descriptions)
        settings = self.settings
        return AuthorizationEndpoint(
            self.context,
            self.response_types,
            login_url=login_url,
            user_resolver=user_resolver,
            consent_tokens=ConsentTokens(settings.signing_keys, settings.consent_form_lifetime, self.store, clock),
            scope_descriptions=described,
            consent_renderer=consent_renderer,
            error_renderer=error_renderer,
        )

    def _documents_served(self, scope_descriptions: Mapping[str, str]) -> None:
        """The RFC 8414 metadata (its bytes as served) and the OpenAPI document, from what is switched on."""
        issuer = self.settings.issuer
        self.metadata = metadata(
            issuer,
            urls={key: issuer + path for spec in self.endpoints for key, path in spec.url.items()},
            endpoints=[spec.metadata(self.settings) for spec in self.endpoints if spec.metadata is not None],
            grant_types=self.grants,
            response_types=self.response_types.values(),
        )
        self._add_features_metadata()
        if "scopes_supported" in self.metadata and scope_descriptions:  # a feature listed scopes: the host's too
            listed = self.metadata["scopes_supported"]
            self.metadata["scopes_supported"] = [*listed, *(s for s in scope_descriptions if s not in listed)]
        #: The metadata as served: every discovery URL (:mod:`asgi_oauth.discovery`) sends these bytes.
        self.metadata_json = encode_json(self.metadata)
        errors = [code for grant in self.grants.values() for code in grant.errors]
        errors += [code for endpoint in self.endpoints for code in endpoint.errors]
        paths = {spec.path: spec.openapi(self) for spec in self.endpoints if spec.openapi is not None}
        self.openapi = openapi_document(issuer, paths, errors)

    def _add_features_metadata(self) -> None:
        """The features' metadata keys, and their client authentication methods wherever methods are listed."""
        methods = [method.name for feature in self.features for method in feature.client_auth_methods()]
        for key, listed in list(self.metadata.items()):
            if methods and key.endswith("_auth_methods_supported"):
                self.metadata[key] = [*listed, *(m for m in methods if m not in listed)]
        for feature in self.features:
            self.metadata.update(feature.metadata())

    def _serve(self, spec: EndpointSpec) -> ASGIApp:
        if spec.app is not None:
            return CORS(spec.app(self), spec.methods) if spec.cors else spec.app(self)
        if spec.handler is None:  # EndpointSpec refuses this at construction; the check keeps the types honest
            raise ValueError(f"endpoint {spec.path} has neither a handler nor an app")
        return _BackChannel(
            self, spec.handler, spec.methods, json=spec.body == "json", cors=spec.cors, admit=spec.admit
        )

    def _documents(self, fetcher: Fetcher | None) -> MetadataDocuments | None:
        """Client ID Metadata Documents when the settings accept them, fetched by ``fetcher`` (default: httpx)."""
        if not self.settings.enable_client_id_metadata_documents:
            return None
        if fetcher is None:
            from ..cimd.fetch import document_fetcher

            fetcher = document_fetcher()
        methods = registrable_methods(self.features)
        return MetadataDocuments(fetcher, self.store, scopes=self.settings.dynamic_registration_scopes, methods=methods)

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
        route = self._routes.get(path)
        if route is None:
            await send_json(send, 404, {"error": "invalid_request", "error_description": "no such endpoint"})
        elif self.metrics is None:
            await route(scope, receive, send)
        else:
            await self._measured(route, path, scope, receive, send)

    async def _measured(self, route: ASGIApp, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``route`` and count its answer: status, and the OAuth error code :func:`send_error` noted."""
        metrics = self.metrics
        if metrics is None:
            raise RuntimeError("measured without metrics")
        status = 500  # what the host answers when the route raises
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await route(scope, receive, sending)
        finally:
            metrics.observe(path, status, scope.get(ERROR_KEY, ""), time.perf_counter() - started)

    async def revoke_user(self, sub: str) -> int:
        """End every grant of the user ``sub`` (refresh families, access tokens, codes not yet exchanged) in one
        store step, on every worker; returns how many grants still lived. Reports a ``revoked`` event."""
        ended = await self.store.revoke_user(sub)
        self.events.emit("revoked", user=sub, what="user", count=ended)
        return ended

    async def revoke_client(self, client_id: str) -> int:
        """As :meth:`revoke_user`, for everything issued to the client ``client_id`` (the client stays)."""
        ended = await self.store.revoke_client(client_id)
        self.events.emit("revoked", client_id=client_id, what="client", count=ended)
        return ended

    async def aclose(self) -> None:
        await self.events.drain()
        await self.store.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _BackChannel:
    """Serves one back-channel endpoint in raw ASGI: method check, body, handler, then JSON or an RFC error.

    OAuth errors render per RFC 6749 section 5.2 and a lost store as 503; anything else is a bug and
    propagates to the host's error handling.
    """

    __slots__ = ("admit", "allow", "cors", "handler", "json", "max_body_size", "methods", "preflight", "server")

    def __init__(
        self,
        server: OAuthServer,
        handler: Handler,
        methods: tuple[str, ...],
        *,
        json: bool,
        cors: bool = False,
        admit: Admission | None = None,
    ) -> None:
        self.server = server
        self.handler = handler
        self.admit = admit
        self.methods = methods
        self.allow = ", ".join(methods)
        self.json = json
        self.max_body_size = server.settings.max_body_size
        # Built once: a CORS endpoint adds the same two raw headers to every answer to a browser, errors included.
        self.cors: tuple[tuple[bytes, bytes], ...] = RESPONSE_HEADERS if cors else ()
        self.preflight = preflight_headers(methods) if cors else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = self.cors if self.cors and from_origin(scope) else ()
        try:
            if scope["method"] not in self.methods:
                if self.preflight is not None and scope["method"] == "OPTIONS" and is_preflight(scope):
                    await send_preflight(send, self.preflight)
                    return
                raise MethodNotAllowed(self.allow)
            if self.admit is not None:
                unread = EndpointRequest(
                    _NO_PARAMS, header(scope, b"authorization"), peer(scope), None, scope["headers"]
                )
                await self.admit(self.server, unread)
            if self.json:
                body = await read_json(scope, receive, self.max_body_size)
                params = _NO_PARAMS
            else:
                body = None
                params = Params.parse(await read_body(scope, receive, self.max_body_size, FORM_TYPE))
            request = EndpointRequest(params, header(scope, b"authorization"), peer(scope), body, scope["headers"])
            response = await self.handler(self.server, request)
        except ClientGone:
            return
        except OAuthError as error:
            scope[ERROR_KEY] = error.error
            await send_error(send, error, cors)
            return
        except StoreUnavailable as exc:
            logger.warning("store unavailable during %s: %s", scope["path"], exc)
            scope[ERROR_KEY] = TemporarilyUnavailable.error
            await send_error(send, TemporarilyUnavailable("the authorization server's store is unavailable"), cors)
            return
        headers = NO_STORE if response.headers is None else response.headers
        await send_json(send, response.status, response.body, headers, cors)
