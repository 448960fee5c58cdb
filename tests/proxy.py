"""A TCP proxy in front of a real Redis that loses one reply on demand: the command reached Redis and ran, and
the connection closes before its answer gets back. Used to show what a lost reply does to the store and the app."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


def redis_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


class ReplyDropper:
    """Armed with :meth:`drop_next_reply`, it passes the first command containing ``after`` to Redis, then closes
    the client's connection instead of passing on the next reply. With ``refuse`` it then keeps new connections
    out until :meth:`accept`, so a resend fails too. One command is in flight at a time in these tests, so the
    next reply is that command's."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed: bytes | None = None
        self.pending = False
        self.refusing = False
        self.refusing_after = False
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self.port

    def drop_next_reply(self, *, after: bytes = b"", refuse: bool = False) -> None:
        self.armed = after
        self.refusing_after = refuse

    def accept(self) -> None:
        self.refusing = False

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

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool) -> None:
                while data := await src.read(65536):
                    if not replies and self.armed is not None and self.armed in data:
                        self.armed, self.pending = None, True
                    elif replies and self.pending:
                        self.pending = False
                        self.dropped += 1
                        self.refusing = self.refusing_after
                        return  # closing both ends below: Redis ran the command, its answer is gone
                    dst.write(data)

            pumps = [
                asyncio.ensure_future(pump(client_r, up_w, False)),
                asyncio.ensure_future(pump(up_r, client_w, True)),
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
