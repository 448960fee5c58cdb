"""Prometheus metrics of the server (``ASGI_OAUTH_METRICS=1``; needs the ``metrics`` extra, prometheus-client).

Exposed at ``<mount><METRICS_PATH>`` (``/oauth/metrics`` in the demo):

* ``asgi_oauth_requests_total{endpoint, status, error}``: answers per endpoint path, HTTP status and OAuth
  ``error`` code (empty on success);
* ``asgi_oauth_request_duration_seconds{endpoint, status}``: a latency histogram per endpoint and status;
* ``asgi_oauth_store_errors_total{endpoint}``: requests answered 503 because the store was unreachable (the
  server's endpoints; the bearer middleware runs in the host app);
* ``asgi_oauth_events_total{kind}``: the events of :mod:`.events`, counted whether or not hooks are set.

Several worker processes: each keeps its own counts, so a scrape of one port sees one worker's. Set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (before the workers start; ``asgi-oauth serve`` passes its
environment on) and every worker writes its values there, and any worker's endpoint answers the sum of all
(prometheus-client's multiprocess mode). Without it, scrape each worker separately or run one per container.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .events import Event

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: Latency buckets in seconds: token requests take a millisecond or a few, a scrypt-hashed secret ~50 ms.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The server's metrics in their own registry, so several servers in one process never collide."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram  # the extra: OAuthServer checked it

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "asgi_oauth_requests",
            "Answers per endpoint, HTTP status and OAuth error code",
            ["endpoint", "status", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "asgi_oauth_request_duration_seconds",
            "Time to answer, per endpoint and HTTP status",
            ["endpoint", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "asgi_oauth_store_errors",
            "Requests answered 503 because the store was unreachable",
            ["endpoint"],
            registry=self.registry,
        )
        self.events = Counter("asgi_oauth_events", "Events, by kind", ["kind"], registry=self.registry)

    def observe(self, endpoint: str, status: int, error: str, seconds: float) -> None:
        code = str(status)
        self.requests.labels(endpoint, code, error).inc()
        self.latency.labels(endpoint, code).observe(seconds)
        if error == "temporarily_unavailable" and status == 503:
            self.store_errors.labels(endpoint).inc()

    def count_event(self, event: Event) -> None:
        self.events.labels(event.kind).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type: every worker's sum in multiprocess mode, else this process's."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self._collected()), CONTENT_TYPE_LATEST

    def _collected(self) -> CollectorRegistry:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
