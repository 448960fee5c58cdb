"""One Redis connection per worker, shared by every request, with concurrent commands pipelined on it.

redis-py's asyncio client takes a pooled connection per command and waits for the reply on it: a write
system call, a wake-up and a read per command, 60-110 µs of CPU on a 2-core machine, several times what
the rest of a token request costs. Here the commands issued in one event-loop iteration leave together (in
one write, or one per :data:`EARLY_WRITE` commands in a burst), and replies are parsed straight from the
protocol callback as they arrive. Redis answers a connection's
commands in order, so a queue of futures pairs each reply with its caller. Under concurrent load a command
costs about a tenth of redis-py's (figures in the documentation's "Performance" page).

The bound on a command's time is kept by one timer for the whole connection: when the oldest unanswered
command is past its deadline the connection is dropped and every command waiting on it fails with
``redis.exceptions.TimeoutError`` (its replies could no longer be paired). A lost connection fails what
was sent on it with ``redis.exceptions.ConnectionError``. Redis may have run such a command before its
reply was lost, so only commands whose second run answers as the first are sent once more, on a new
connection (:meth:`PipelinedRedis.execute`); the others fail (:meth:`PipelinedRedis.execute_once`).

Replies are parsed by hiredis when it is installed, else in Python.

Replies are RESP2 values (``bytes``, ``int``, ``None``, lists); error replies raise redis-py's exception
classes, so callers classify failures the same way whichever client ran the command.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis import exceptions as rexc

from ..loops import RunningLoop

try:  # the C parser, used when installed (``pip install 'asgi-oauth[hiredis]'``)
    import hiredis

    HIREDIS = True
except ImportError:
    HIREDIS = False

Arg = str | bytes | int


#: Seconds, for a command and for connecting, when the redis-py pool it is derived from sets none.
_DEFAULT_TIMEOUT = 5.0

#: Commands queued in one iteration that leave at once instead of waiting for the iteration's end, so that
#: Redis runs the first of a burst while the worker still prepares the rest, instead of both taking turns
#: (measured in ``benchmarks/PROFILE.md``: the worker idled a tenth of an issuance run waiting for a
#: burst's replies). Fewer per write costs more system calls than the overlap gains.
EARLY_WRITE = 8


class _Lost(rexc.ConnectionError):
    """The connection closed under commands sent on it: the one failure worth sending a command again for."""


class _Closed(rexc.ConnectionError):
    """The client was closed while the command waited."""


#: An error reply's first word and the public redis-py class it becomes, so callers handle a failure alike
#: whichever client ran the command. (redis-py's own table is in a private module that moves between
#: releases; this one is the project's, checked against redis-py's client on a real server by the tests.)
_ERROR_CODES: dict[str, type[rexc.RedisError]] = {
    "NOSCRIPT": rexc.NoScriptError,
    "READONLY": rexc.ReadOnlyError,
    "LOADING": rexc.BusyLoadingError,
    "MASTERDOWN": rexc.MasterDownError,
    "OOM": rexc.OutOfMemoryError,
    "NOAUTH": rexc.AuthenticationError,
    "WRONGPASS": rexc.AuthenticationError,
    "NOPERM": rexc.NoPermissionError,
    "EXECABORT": rexc.ExecAbortError,
    "TRYAGAIN": rexc.TryAgainError,
    "CLUSTERDOWN": rexc.ClusterDownError,
    "CROSSSLOT": rexc.ClusterCrossSlotError,
    # "<slot> <host>:<port>": only a connection of its own to a Cluster node meets these (store/replicas.py).
    "MOVED": rexc.MovedError,
    "ASK": rexc.AskError,
}

#: ``ERR`` replies that are not about the command: the server refused the connection or its sign-in.
_ERR_MESSAGES: dict[str, type[rexc.RedisError]] = {
    "max number of clients reached": rexc.ConnectionError,
    "invalid password": rexc.AuthenticationError,
    "Client sent AUTH, but no password is set": rexc.AuthenticationError,
}


def error_reply(line: str) -> rexc.RedisError:
    """The exception an error reply (without its leading ``-``) stands for.

    A server refusing the connection (too many clients, a failed sign-in) gives a ``ConnectionError`` subclass,
    which the store reports as unavailable; an error about the command itself is a ``ResponseError``.
    """
    code, _, message = line.partition(" ")
    if code == "ERR":
        if message in _ERR_MESSAGES:
            return _ERR_MESSAGES[message](message)
        if message.startswith("AUTH <password> called without any password configured"):
            return rexc.AuthenticationError(message)
        return rexc.ResponseError(message)
    kind = _ERROR_CODES.get(code)
    if kind is None:
        return rexc.ResponseError(line)
    try:
        return kind(message)
    except ValueError:  # a MOVED or ASK without its "<slot> <host>:<port>"
        return rexc.ResponseError(line)


def _error(line: bytes) -> rexc.RedisError:
    return error_reply(line.decode("utf-8", "replace"))


def pack(args: tuple[Arg, ...]) -> bytes:
    """A command in RESP: an array of bulk strings.

    Written as text and encoded once when every argument is text or a number and ASCII (keys, digests, ids,
    numbers: nearly every command), where a character's length is its byte length; bytes the other way.
    """
    parts = [f"*{len(args)}\r\n"]
    for arg in args:
        if isinstance(arg, bytes):
            return _pack_bytes(args)
        text = str(arg)
        parts.append(f"${len(text)}\r\n{text}\r\n")
    out = "".join(parts)
    return out.encode() if out.isascii() else _pack_bytes(args)


def _pack_bytes(args: tuple[Arg, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


INCOMPLETE = object()


def parse(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """The reply starting at ``pos`` and where the next begins; ``INCOMPLETE`` while bytes are missing.

    An error reply is returned as its exception, not raised: it answers one command, not the connection.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return INCOMPLETE, pos
    kind, line = buf[pos], bytes(buf[pos + 1 : end])
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buf) < stop + 2:
            return INCOMPLETE, pos
        return bytes(buf[end + 2 : stop]), stop + 2
    if kind == 0x3A:  # : integer
        return int(line), end + 2
    if kind == 0x2B:  # + simple string
        return line, end + 2
    if kind == 0x2D:  # - error
        return _error(line), end + 2
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        at = end + 2
        for _ in range(count):
            item, at = parse(buf, at)
            if item is INCOMPLETE:
                return INCOMPLETE, pos
            items.append(item)
        return items, at
    raise rexc.InvalidResponse(f"unexpected reply type {chr(kind)!r} from Redis")


class _ReplyError(Exception):
    """hiredis's carrier of an error reply, turned into redis-py's exception class on the way out."""


class _HiredisReader:
    """Replies parsed by hiredis: the same values :func:`parse` gives, at C speed."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=_ReplyError)

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def gets(self) -> Any:
        try:
            reply = self._reader.gets()
        except hiredis.ProtocolError as exc:
            raise rexc.InvalidResponse(str(exc)) from None
        if reply is False:
            return INCOMPLETE
        if isinstance(reply, _ReplyError):
            return _error(str(reply).encode())
        return reply

    def has_data(self) -> bool:
        return bool(self._reader.has_data())


class _PythonReader:
    """Replies parsed by :func:`parse`, for when hiredis is not installed."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def gets(self) -> Any:
        reply, self._pos = parse(self._buf, self._pos)
        return reply

    def has_data(self) -> bool:
        return self._pos < len(self._buf)


Reader = _HiredisReader | _PythonReader


def new_reader() -> Reader:
    return _HiredisReader() if HIREDIS else _PythonReader()


class _Connection(asyncio.Protocol):
    """One socket: queues commands, writes them at the loop iteration's end (or every :data:`EARLY_WRITE`
    commands), pairs replies in order."""

    def __init__(self, timeout: float | None) -> None:
        running = RunningLoop.here()
        if running is None:
            raise RuntimeError("a Redis connection can only be opened inside a running event loop")
        #: The loop that opened it (and its thread): the only one that may use it.
        self.running = running
        self.loop = running.loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._reader = new_reader()
        self._outbox: list[bytes] = []
        #: Futures of sent or queued commands, oldest first, with the loop time each must be answered by.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.failure: rexc.RedisError | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport, hence no isinstance check).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        try:
            while waiting:
                reply = reader.gets()
                if reply is INCOMPLETE:
                    break
                future = waiting.popleft()[0]
                if future.done():  # its caller was cancelled; the reply is still consumed in order
                    continue
                if isinstance(reply, rexc.RedisError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (ValueError, rexc.InvalidResponse) as exc:
            self.fail(rexc.ConnectionError(f"unreadable reply from Redis: {exc}"))
            return
        if not waiting and reader.has_data():
            self.fail(rexc.ConnectionError("Redis sent a reply to no command"))

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self.fail(_Lost(f"Connection closed by Redis{reason}"))

    # -- commands --------------------------------------------------------------------------------
    def send(self, packed: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.failure is not None:
            future.set_exception(self.failure)
            return future
        deadline = self.loop.time() + self._timeout if self._timeout is not None else float("inf")
        self._waiting.append((future, deadline))
        outbox = self._outbox
        if not outbox:
            self.loop.call_soon(self._flush)
        outbox.append(packed)
        if len(outbox) >= EARLY_WRITE:
            self._flush()  # (the iteration's own flush then finds less, or nothing, to write)
        if self._timer is None and self._timeout is not None:
            self._timer = self.loop.call_at(deadline, self._check_deadline)
        return future

    def _flush(self) -> None:
        if self._transport is None or self.failure is not None or not self._outbox:
            return
        self._transport.write(b"".join(self._outbox))
        self._outbox.clear()

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if deadline <= self.loop.time():
            self.fail(rexc.TimeoutError("Timeout reading from Redis"))
        else:
            self._timer = self.loop.call_at(deadline, self._check_deadline)

    def fail(self, error: rexc.RedisError) -> None:
        """Drop the connection: everything sent or queued on it fails with ``error``."""
        if self.failure is None:
            self.failure = error
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._outbox.clear()
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)
        if self._transport is not None and not self.loop.is_closed():  # a closed loop closed nothing it ran
            self._transport.abort()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect: a TCP ``host``/``port`` (over TLS with ``tls``) or a Unix socket ``path``,
    then sign in and select."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    tls: ssl.SSLContext | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    client_name: str | None = None
    connect_timeout: float | None = None
    timeout: float | None = None

    @classmethod
    def of_pool(cls, pool: aioredis.ConnectionPool) -> Endpoint | None:
        """The endpoint a plain redis-py pool connects to, or ``None`` when its connections do more than this
        module does (a custom connection class, a credential provider, RESP3): those stay on redis-py."""
        kinds = (aioredis.Connection, aioredis.UnixDomainSocketConnection, aioredis.SSLConnection)
        if pool.connection_class not in kinds:
            return None
        return cls.of_connection(pool.connection_class, pool.connection_kwargs)

    @classmethod
    def of_connection(cls, connection_class: type[Any], kw: dict[str, Any]) -> Endpoint | None:
        """The endpoint of redis-py connections of ``connection_class`` made with ``kw`` (a pool's, a Cluster
        node's, a Sentinel-managed master's), or ``None`` when they sign in by more than a password (a
        credential provider) or speak RESP3."""
        if kw.get("credential_provider") is not None or str(kw.get("protocol") or 2) != "2":
            return None
        tls = None
        if issubclass(connection_class, aioredis.SSLConnection):
            # The TLS context exactly as redis-py builds it from the URL's ssl_* options (CA, client
            # certificate, hostname check, minimum version, ciphers); the connection object only holds it.
            own = {k: v for k, v in kw.items() if k != "connection_pool"}  # a Sentinel-managed connection's
            tls = aioredis.SSLConnection(**own).ssl_context.get()
        # A pool built without timeouts gets redis-py's defaults (5 s since redis-py 6), not unbounded waits.
        timeout = kw.get("socket_timeout", _DEFAULT_TIMEOUT)
        return cls(
            host=kw.get("host", "localhost"),
            port=int(kw.get("port", 6379)),
            path=kw.get("path") if issubclass(connection_class, aioredis.UnixDomainSocketConnection) else None,
            tls=tls,
            db=int(kw.get("db") or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            client_name=kw.get("client_name"),
            connect_timeout=kw.get("socket_connect_timeout", timeout),
            timeout=timeout,
        )

    def describe(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}{' (TLS)' if self.tls else ''}"


class PipelinedRedis:
    """Runs commands on one shared connection to ``endpoint``, opened on first use and after any failure."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._conn: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None
        #: Bumped by :meth:`aclose`; a connection opened for an earlier generation is closed once made.
        self._generation = 0

    async def execute(self, *args: Arg) -> Any:
        """Run a command whose second run answers as its first (a read, a plain overwrite, a script that
        recognises its own earlier run): if its connection is lost it is sent once more, on a new one."""
        packed = pack(args)
        try:
            return await self._send(packed)
        except _Lost:
            # Once, as redis-py's retry does: Redis may have run it before the connection went. Timeouts,
            # refused connections and failed sign-ins are not retried.
            return await self._send(packed)

    async def execute_once(self, *args: Arg) -> Any:
        """Run a command that must not run twice (SET NX, a counter, a script whose second run differs): a
        lost connection fails it, since Redis may have run it before the reply was lost."""
        return await self._send(pack(args))

    def _send(self, packed: bytes) -> Awaitable[Any]:
        """The reply's future when the connection is open (no coroutine of its own on every command), else a
        coroutine that opens one first."""
        conn = self._conn
        if conn is None or conn.failure is not None or not conn.running.current():
            # (A connection belongs to the loop that opened it: a store used from a new loop, after an
            # ``asyncio.run`` that set it up, say, opens its own.)
            return self._send_opening(packed)
        return conn.send(packed)

    async def _send_opening(self, packed: bytes) -> Any:
        conn = await self._connection()
        return await conn.send(packed)

    async def _connection(self) -> _Connection:
        if self._opening is not None and self._opening.get_loop() is not asyncio.get_running_loop():
            self._opening = None
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open(self._generation))
            self._opening.add_done_callback(self._opened)
        # Shielded: a request cancelled while waiting must not cancel the connect others are waiting for.
        return await asyncio.shield(self._opening)

    def _opened(self, task: asyncio.Task[_Connection]) -> None:
        if self._opening is task:
            self._opening = None
        if not task.cancelled() and task.exception() is None:
            self._conn = task.result()

    async def _open(self, generation: int) -> _Connection:
        ep = self.endpoint
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(ep.connect_timeout):
                if ep.path is not None:
                    _, conn = await loop.create_unix_connection(lambda: _Connection(ep.timeout), ep.path)
                else:
                    _, conn = await loop.create_connection(
                        lambda: _Connection(ep.timeout), ep.host, ep.port, ssl=ep.tls
                    )
        except TimeoutError:
            raise rexc.TimeoutError(f"Timeout connecting to Redis at {ep.describe()}") from None
        except OSError as exc:
            raise rexc.ConnectionError(f"Error connecting to Redis at {ep.describe()}: {exc}") from exc
        hello: list[tuple[Arg, ...]] = []
        if ep.password is not None:
            hello.append(("AUTH", ep.username, ep.password) if ep.username else ("AUTH", ep.password))
        if ep.client_name:
            hello.append(("CLIENT", "SETNAME", ep.client_name))
        if ep.db:
            hello.append(("SELECT", ep.db))
        try:
            await asyncio.gather(*(conn.send(pack(cmd)) for cmd in hello))
            if generation != self._generation:
                raise _Closed("the client was closed while connecting")
        except BaseException as exc:
            conn.fail(exc if isinstance(exc, rexc.RedisError) else rexc.ConnectionError("connection set-up failed"))
            raise
        return conn

    async def aclose(self) -> None:
        """Close the connection; commands waiting on it fail. A later command opens a new one."""
        self._generation += 1
        self._opening = None
        if self._conn is not None:
            self._conn.fail(_Closed("the client was closed"))
            self._conn = None
