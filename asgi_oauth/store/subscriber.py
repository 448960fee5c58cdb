"""The worker's subscription to the revocation channel, which keeps its
:class:`~asgi_oauth.validation_cache.ValidationCache` honest.

redis-py's PubSub reconnects on its own and resubscribes without telling its caller, so announcements sent
while it was away are lost unnoticed. This subscriber owns its connections instead: it reports every
confirmed subscription and every loss to the cache (which empties itself on both), and sends a PING on each
subscribed connection every quarter lease. Redis writes a connection's replies and messages in the order it
produced them, so the PONG proves that every announcement published before Redis read the PING is delivered;
the cache trusts itself only while the newest PING answered on every connection is younger than the lease.

On a Cluster, a script's PUBLISH reaches subscribers on its own node directly and the other nodes through the
cluster bus, so the subscriber keeps one connection per primary: every revocation then arrives in order with
that primary's PONG. A primary that joins later is found at the next reconnect (after any connection drops);
until then, what it announces still arrives through the bus, just without that ordering proof.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis import exceptions as rexc

from ..validation_cache import ValidationCache
from .pipeline import INCOMPLETE, Arg, Endpoint, new_reader, pack

logger = logging.getLogger("asgi_oauth")

#: Where to subscribe now: the server, the Sentinel-named master, or every Cluster primary.
Endpoints = Callable[[], Awaitable[list[Endpoint]]]

#: The most a trust check reads at once from a subscription (announcements are a few dozen bytes each).
_DRAIN = 65536
#: Waits between reconnection attempts, growing to the last.
_BACKOFF = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Lost(Exception):
    """The subscription is no longer proven: a connection closed, misbehaved, or stopped answering."""


class _Subscription(asyncio.Protocol):
    """One subscribed connection: counts PONGs, hands messages to the cache, and notices its end."""

    def __init__(
        self, cache: ValidationCache, channel: bytes, on_pong: Callable[[], None], *, readable: bool = True
    ) -> None:
        self._cache = cache
        #: Whether waiting bytes may be read past the transport (a plain socket; TLS bytes are the transport's).
        self._readable = readable
        self._on_pong = on_pong
        self._channel = channel
        self._reader = new_reader()
        self._transport: asyncio.Transport | None = None
        self._peek: socket.socket | None = None
        self.setup = asyncio.get_running_loop().create_future()
        self._handshake = 0
        self.pongs = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        # A second descriptor on the same socket, only ever peeked at (see :meth:`unread`).
        raw = transport.get_extra_info("socket")
        if raw is not None:
            self._peek = socket.socket(fileno=os.dup(raw.fileno()))
            self._peek.setblocking(False)

    def caught_up(self) -> bool:
        """Whether no byte (an announcement, a PONG) waits in the kernel for the event loop to read it.

        Both a request and an announcement that arrive while the loop is busy wait there; the loop may run
        the request first, and a cache consulted meanwhile would answer as if the revocation had not
        happened. One non-blocking read past the transport (a system call, no round trip) tells, and takes
        what waits there and handles it now, as the loop would have: otherwise every heartbeat's PONG would
        send the requests of a whole loop iteration to Redis (PROFILE.md, "A heartbeat in the way"). The
        loop's own read then finds nothing. Over TLS the bytes are ciphertext only the transport may read:
        there they are only peeked at, and anything waiting means not caught up."""
        peek = self._peek
        if peek is None:
            return False
        try:
            if not self._readable:
                peek.recv(1, socket.MSG_PEEK)
                return False  # bytes, or b"" at the end of the stream: either way, not quiet
            while data := peek.recv(_DRAIN):
                self.data_received(data)
        except BlockingIOError:
            return self._peek is not None  # (what was read may have ended the subscription)
        except OSError:
            return False
        return False  # the end of the stream: the loop will see the connection lost

    def send(self, *commands: tuple[Arg, ...]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(pack(c) for c in commands))

    def start(self, hello: list[tuple[Arg, ...]]) -> None:
        self._handshake = len(hello)
        self.send(*hello, ("SUBSCRIBE", self._channel))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not INCOMPLETE:
                self._take(reply)
        except (ValueError, rexc.RedisError, _Lost) as exc:
            self.close(exc)

    def _take(self, reply: Any) -> None:
        if isinstance(reply, rexc.RedisError):
            raise _Lost(f"Redis refused the subscription: {reply}")
        if self._handshake:  # +OK to AUTH / CLIENT SETNAME
            self._handshake -= 1
            return
        if not isinstance(reply, list) or not reply:
            raise _Lost("unexpected reply on the revocation subscription")
        kind = reply[0]
        if kind == b"message" and len(reply) == 3:
            self._cache.announced(reply[2])
        elif kind == b"pong":
            self.pongs += 1
            self._on_pong()
        elif kind == b"subscribe" and not self.setup.done():
            self.setup.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(exc or _Lost("Redis closed the revocation subscription"))

    def close(self, exc: BaseException | None = None) -> None:
        for future in (self.setup, self.closed):
            if not future.done():
                future.set_exception(_Lost(str(exc) or type(exc).__name__))
                future.exception()  # retrieved: nobody may be waiting on it
        if self._transport is not None:
            self._transport.abort()
        if self._peek is not None:
            self._peek.close()
            self._peek = None


class RevocationSubscriber:
    """Keeps ``cache`` subscribed to ``channel`` on every endpoint, for as long as its event loop runs."""

    def __init__(self, endpoints: Endpoints, channel: str, cache: ValidationCache, *, timeout: float) -> None:
        self._endpoints = endpoints
        self._channel = channel.encode()
        self._cache = cache
        #: How long connecting, subscribing, or an unanswered PING may take before the connections are remade.
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        #: The connections of the current subscription, and how many heartbeat rounds all of them answered.
        self._current: list[_Subscription] = []
        self._answered = 0

    def start(self) -> None:
        """Subscribe from the running event loop (once per loop; a store used from a new loop starts anew)."""
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            return
        self._cache.lost()  # whatever an earlier loop's subscription proved is over
        self._task = asyncio.get_running_loop().create_task(self._run(), name="asgi_oauth revocation subscriber")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._cache.lost()

    async def _run(self) -> None:
        failures = 0
        while True:
            subscriptions: list[_Subscription] = []
            try:
                subscriptions = await self._subscribe()
                failures = 0
                self._cache.subscribed()
                await self._heartbeat(subscriptions)
            except Exception as exc:  # whatever it was, the loop goes on: validation reads the store meanwhile
                if failures == 0:
                    logger.warning("revocation subscription lost (%s); validating from the store", exc)
            finally:
                self._cache.lost()
                for subscription in subscriptions:
                    subscription.close()
            await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
            failures += 1

    async def _subscribe(self) -> list[_Subscription]:
        subscriptions: list[_Subscription] = []
        try:
            async with asyncio.timeout(self._timeout):
                for endpoint in await self._endpoints():
                    subscriptions.append(await self._connect(endpoint))
                await asyncio.gather(*(s.setup for s in subscriptions))
        except BaseException:
            for subscription in subscriptions:
                subscription.close()
            raise
        return subscriptions

    async def _connect(self, ep: Endpoint) -> _Subscription:
        loop = asyncio.get_running_loop()
        subscription: _Subscription
        if ep.path is not None:
            _, subscription = await loop.create_unix_connection(
                lambda: _Subscription(self._cache, self._channel, self._pong), ep.path
            )
        else:
            readable = ep.tls is None
            _, subscription = await loop.create_connection(
                lambda: _Subscription(self._cache, self._channel, self._pong, readable=readable),
                ep.host,
                ep.port,
                ssl=ep.tls,
            )
        hello: list[tuple[Arg, ...]] = []
        if ep.password is not None:
            hello.append(("AUTH", ep.username, ep.password) if ep.username else ("AUTH", ep.password))
        hello.append(("CLIENT", "SETNAME", f"{ep.client_name or 'asgi_oauth'}-revocations"))
        subscription.start(hello)
        return subscription

    def caught_up(self) -> bool:
        """No byte waits unread on any subscribed connection (so none is an unread announcement)."""
        return all(subscription.caught_up() for subscription in self._current)

    def _pong(self) -> None:
        rounds = min(s.pongs for s in self._current) if self._current else 0
        while self._answered < rounds:
            self._cache.lease.answered()
            self._answered += 1

    async def _heartbeat(self, subscriptions: list[_Subscription]) -> None:
        """PING every quarter lease (the send time noted first, so the proof never claims more than it has)."""
        lease = self._cache.lease
        interval = lease.lease / 4
        self._current, self._answered = subscriptions, 0
        closed = [s.closed for s in subscriptions]
        try:
            while True:
                lease.sent()
                for subscription in subscriptions:
                    subscription.send(("PING",))
                done, _ = await asyncio.wait(closed, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    future.result()  # raises _Lost
                if lease.outstanding() * interval > self._timeout:
                    raise _Lost(f"no answer to a heartbeat for {self._timeout:g} s")
        finally:
            self._current = []
