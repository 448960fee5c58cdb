"""What PAR keeps: pushed authorization requests, single use and short-lived, found only under their client."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...types import Clock


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """An authorization request's parameters as the client pushed them (RFC 9126 section 2.1)."""

    client_id: str
    params: Mapping[str, str]
    #: When its ``request_uri`` stops working (epoch seconds).
    exp: float


@runtime_checkable
class PushedRequestStore(Protocol):
    """Pushed requests by client and the digest of their ``request_uri``; a client's requests live apart from
    every other client's, so another client's ``request_uri`` is simply not found."""

    async def push_request(self, digest: str, request: PushedRequest, *, limit: int, window: float) -> bool:
        """Keep ``request`` until its ``exp``, unless its client already pushed ``limit`` requests in the
        last ``window`` seconds (``False``, nothing kept). One atomic step."""

    async def get_request(self, client_id: str, digest: str) -> PushedRequest | None:
        """The live request of ``client_id`` under ``digest``, else ``None``; it stays."""

    async def take_request(self, client_id: str, digest: str) -> PushedRequest | None:
        """As :meth:`get_request`, and it is gone: of concurrent takes exactly one gets it."""


class MemoryPushedRequests:
    """The memory store's part: one process only, like :class:`~asgi_oauth.store.MemoryStore`."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._requests: dict[tuple[str, str], PushedRequest] = {}
        self._pushes: dict[str, list[float]] = {}

    async def push_request(self, digest: str, request: PushedRequest, *, limit: int, window: float) -> bool:
        now = self._clock()
        self._requests = {key: kept for key, kept in self._requests.items() if kept.exp > now}
        recent = [at for at in self._pushes.get(request.client_id, []) if at > now - window]
        if len(recent) >= limit:
            self._pushes[request.client_id] = recent
            return False
        self._pushes[request.client_id] = [*recent, now]
        self._requests[request.client_id, digest] = request
        return True

    async def get_request(self, client_id: str, digest: str) -> PushedRequest | None:
        request = self._requests.get((client_id, digest))
        return request if request is not None and request.exp > self._clock() else None

    async def take_request(self, client_id: str, digest: str) -> PushedRequest | None:
        request = self._requests.pop((client_id, digest), None)
        return request if request is not None and request.exp > self._clock() else None
