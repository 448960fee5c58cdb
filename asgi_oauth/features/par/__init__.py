"""Pushed authorization requests (RFC 9126) as a feature: ``POST /par`` and ``/authorize`` honouring it.

Switched on by ``OAuthServer(features=[PushedAuthorizationRequests()])`` or ``ASGI_OAUTH_FEATURES=par``;
its settings are ``ASGI_OAUTH_PAR_*`` (:class:`ParSettings`). Built only on :mod:`asgi_oauth.features`'
hooks: the documentation's "Extending" page walks through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...settings import load_section
from .. import (
    AuthorizationInput,
    AuthorizationRequest,
    Context,
    EndpointRequest,
    EndpointResponse,
    EndpointSpec,
    Feature,
    Params,
    part_for,
)
from . import protocol
from .settings import ParSettings
from .store import MemoryPushedRequests, PushedRequest, PushedRequestStore

if TYPE_CHECKING:
    from ...store.memory import MemoryStore
    from ...store.redis import RedisStore
    from ...web.app import OAuthServer

__all__ = ["URN", "ParSettings", "PushedAuthorizationRequests", "PushedRequest", "PushedRequestStore", "must_push"]

#: RFC 9126 section 2.2: the prefix of every ``request_uri`` that ``/par`` hands out.
URN = protocol.URN
must_push = protocol.must_push


class PushedAuthorizationRequests(Feature):
    """Pushed authorization requests (RFC 9126): a client posts its authorization request to ``/par`` and sends
    the browser to ``/authorize`` with the ``request_uri`` it got back, so the parameters never pass the browser."""

    name = "par"
    store = PushedRequestStore
    settings_model = ParSettings

    def __init__(self, settings: ParSettings | None = None) -> None:
        self.settings = settings if settings is not None else load_section(ParSettings)
        self._requests: PushedRequestStore | None = None
        self._server: OAuthServer | None = None

    def store_part(self, server: OAuthServer) -> object:
        clock = server.context.clock

        def redis(store: RedisStore) -> object:
            from .redis import RedisPushedRequests

            return RedisPushedRequests(store.redis, key_prefix=store.key_prefix, clock=clock)

        def memory(store: MemoryStore) -> object:
            return MemoryPushedRequests(clock=clock)

        return part_for(server.store, PushedRequestStore, self.name, memory=memory, redis=redis)

    def attach(self, server: OAuthServer, store: Any) -> None:
        self._server, self._requests = server, store

    @property
    def requests(self) -> PushedRequestStore:
        if self._requests is None:
            raise RuntimeError("PushedAuthorizationRequests is not attached to a server")
        return self._requests

    def endpoints(self) -> Sequence[EndpointSpec]:
        return (EndpointSpec("/par", self._push, url_key="pushed_authorization_request_endpoint"),)

    def metadata(self) -> Mapping[str, Any]:
        return {"require_pushed_authorization_requests": self.settings.required}

    async def _push(self, server: OAuthServer, request: EndpointRequest) -> EndpointResponse:
        """RFC 9126 section 2.2: 201 with the ``request_uri`` and its lifetime."""
        answer = await protocol.push(server.context, self.requests, self.settings, server.response_types, request)
        return EndpointResponse(201, answer)

    async def authorization_params(self, ctx: Context, params: Params) -> AuthorizationInput | None:
        pushed = await protocol.resolve(ctx, self.requests, self.settings, params)
        if pushed is None:
            return None
        carried = {"client_id": params.require("client_id"), "request_uri": params.require("request_uri")}
        return AuthorizationInput(pushed, continuation=carried)

    async def authorization_done(self, ctx: Context, request: AuthorizationRequest) -> None:
        if request.continuation is not None and "request_uri" in request.continuation:
            await protocol.spend(self.requests, request.continuation)
