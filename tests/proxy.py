"""TCP proxies in front of a real Redis, each bending one thing on purpose: :class:`ReplyDropper` loses one reply
(the command reached Redis and ran, its answer never gets back); :class:`DelayingProxy` holds back what Redis
sends (to revocation subscribers, or to a replica), widening the gap between a write's reply and its arrival."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

P = TypeVar("P", bound="Proxy")


def redis_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


class Proxy:
    """Passes every connection on to ``upstream_port`` through :meth:`pump`, once per direction."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        #: New connections are closed at once while set.
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool, conn: dict[str, bool]
    ) -> None:
        """Copy ``src`` to ``dst`` (Redis's side when ``replies``); ``conn`` is shared by both directions."""
        while data := await src.read(65536):
            dst.write(data)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        serving = asyncio.current_task()
        if serving is not None:
            self._serving.add(serving)
        writers = [client_w]
        self._writers.update(writers)
        try:
            if self.refusing:
                return
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            writers.append(up_w)
            self._writers.add(up_w)
            conn: dict[str, bool] = {}
            pumps = [
                asyncio.ensure_future(self.pump(client_r, up_w, False, conn)),
                asyncio.ensure_future(self.pump(up_r, client_w, True, conn)),
            ]
            self._tasks.update(pumps)
            # Whichever direction ends first (a dropped reply, a side that closed) ends the connection.
            _, rest = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for task in rest:
                task.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in writers:
                writer.transport.abort()
                self._writers.discard(writer)
            self._serving.discard(serving)  # type: ignore[arg-type]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Each connection's handler ends once its transports are aborted; wait, so none is cancelled at loop close.
        await asyncio.gather(*self._serving, return_exceptions=True)
        await asyncio.sleep(0)


@contextmanager
def proxy_thread(proxy: P) -> Iterator[P]:
    """``proxy`` serving from its own thread and event loop, for tests whose own loop blocks (a server started
    and waited for synchronously would otherwise find the proxy silent)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="redis proxy", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class ReplyDropper(Proxy):
    """Armed with :meth:`drop_next_reply`, it passes the first command containing ``after`` to Redis, then closes
    the client's connection instead of passing on the next reply. With ``refuse`` it then keeps new connections
    out until :meth:`accept`, so a resend fails too. One command is in flight at a time in these tests, so the
    next reply is that command's."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.armed: bytes | None = None
        self.pending = False
        self.refusing_after = False
        self.dropped = 0

    def drop_next_reply(self, *, after: bytes = b"", refuse: bool = False) -> None:
        self.armed = after
        self.refusing_after = refuse

    def accept(self) -> None:
        self.refusing = False

    async def pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool, conn: dict[str, bool]
    ) -> None:
        while data := await src.read(65536):
            if not replies and self.armed is not None and self.armed in data:
                self.armed, self.pending = None, True
            elif replies and self.pending:
                self.pending = False
                self.dropped += 1
                self.refusing = self.refusing_after
                return  # closing both ends below: Redis ran the command, its answer is gone
            dst.write(data)


class DelayingProxy(Proxy):
    """Delivers what Redis sends ``delay`` seconds late, in order, on the connections whose first write contains
    ``marker`` (every connection without one); the others pass untouched, and :attr:`commands` counts what they
    send, so a test can tell a request answered from memory (no command) from one that read the store."""

    def __init__(self, upstream_port: int, delay: float, *, marker: bytes | None = None) -> None:
        super().__init__(upstream_port)
        self.delay = delay
        self.marker = marker
        self.commands = 0

    async def pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool, conn: dict[str, bool]
    ) -> None:
        loop = asyncio.get_running_loop()
        while data := await src.read(65536):
            if not replies and "delayed" not in conn:
                conn["delayed"] = self.marker is None or self.marker in data
            if replies and conn.get("delayed"):
                loop.call_later(self.delay, dst.write, data)  # later chunks are scheduled later: order kept
                continue
            if not replies and not conn.get("delayed"):
                self.commands += 1
            dst.write(data)
