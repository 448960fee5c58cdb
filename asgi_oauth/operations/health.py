"""Operations endpoints under the mount: liveness, readiness and Prometheus metrics.

Liveness answers as long as the process serves requests, touching nothing: restarting a worker because Redis
is down would not bring Redis back. Readiness pings the store (bounded by ``REDIS_TIMEOUT``) and answers 503
while it is unreachable, so a load balancer sends requests to workers that can serve them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import MethodNotAllowed, TemporarilyUnavailable
from ..store import StoreUnavailable
from ..web.endpoints import EndpointSpec
from ..web.http import ERROR_KEY, NO_STORE, send_bytes, send_error, send_json

if TYPE_CHECKING:
    from ..settings import OAuthSettings
    from ..web.app import OAuthServer
    from .metrics import Metrics

_READ = ("GET", "HEAD")


class _Probe:
    """Answers GET and HEAD with ``{"status": ...}``: 200 when ready (or just alive), else 503."""

    __slots__ = ("server", "store")

    def __init__(self, server: OAuthServer, *, store: bool) -> None:
        self.server = server
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in _READ:
            await send_error(send, MethodNotAllowed(", ".join(_READ)))
            return
        status, body = 200, {"status": "ok"}
        if self.store:
            try:
                await self.server.store.ping()
            except StoreUnavailable:
                scope[ERROR_KEY] = TemporarilyUnavailable.error  # counted as a store error
                status, body = 503, {"status": "unavailable", "reason": "the store cannot be reached"}
        await send_json(send, status, body, NO_STORE)


class _MetricsPage:
    __slots__ = ("metrics",)

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in _READ:
            await send_error(send, MethodNotAllowed(", ".join(_READ)))
            return
        content, media_type = self.metrics.exposition()
        await send_bytes(send, 200, content, NO_STORE, media_type=media_type, head=scope["method"] == "HEAD")


def _liveness(server: OAuthServer) -> ASGIApp:
    return _Probe(server, store=False)


def _readiness(server: OAuthServer) -> ASGIApp:
    return _Probe(server, store=True)


def _metrics_page(server: OAuthServer) -> ASGIApp:
    if server.metrics is None:  # enabled only with the setting, which also builds server.metrics
        raise ValueError("the metrics endpoint needs ASGI_OAUTH_METRICS")
    return _MetricsPage(server.metrics)


def operations_endpoints(settings: OAuthSettings) -> list[EndpointSpec]:
    """The health endpoints (on unless their path is set empty) and, with ``METRICS``, the metrics endpoint.

    Neither is in the RFC 8414 metadata nor in the OpenAPI document: they are for the operator, not clients.
    """
    specs = []
    if settings.health_live_path:
        specs.append(EndpointSpec(settings.health_live_path, app=_liveness, methods=_READ))
    if settings.health_ready_path:
        specs.append(EndpointSpec(settings.health_ready_path, app=_readiness, methods=_READ))
    if settings.metrics:
        specs.append(EndpointSpec(settings.metrics_path, app=_metrics_page, methods=_READ))
    return specs
