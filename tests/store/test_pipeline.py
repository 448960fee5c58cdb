"""The pipelined Redis connection (:mod:`asgi_oauth.store.pipeline`).

RESP2 parsing and packing as pure functions; replies paired with their commands however the bytes are split,
under concurrency, error replies and cancelled callers; sign-in and database selection over TCP and a Unix
socket; timeouts, lost connections and reconnects on a private redis-server that is frozen, killed and
restarted; and the same behaviour on asyncio's own event loop and on uvloop. Real Redis only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import uvloop
from redis import exceptions as rexc
from redis.credentials import UsernamePasswordCredentialProvider

from asgi_oauth.store import pipeline
from asgi_oauth.store.pipeline import INCOMPLETE, Arg, Endpoint, PipelinedRedis, _Connection, pack, parse
from asgi_oauth.store.redis import _unavailable as unavailable

from ..reliability.stack import RedisProcess, redis_server
from ..serving import free_port

#: Endpoint.timeout for the fault tests: short, so a frozen server is found out quickly.
TIMEOUT = 0.5
#: Slack on top of a timeout before a test calls the bound broken (a loaded 2-core machine, no tight timing).
SLACK = 2.0
PASSWORD = "s3cret-default"
ACL_USER, ACL_PASSWORD = "app", "s3cret-app"
#: Bytes that would break a framing that trusted line ends instead of lengths.
BINARY = bytes(range(256)) + b"\r\n$3\r\nfoo\r\n*1\r\n-ERR x\r\n\r\n"


def endpoint_of(url: str, **options: Any) -> Endpoint:
    """``Endpoint.of_pool`` of a redis-py pool for ``url``, which must be one the pipeline can serve."""
    endpoint = Endpoint.of_pool(aioredis.ConnectionPool.from_url(url, **options))
    assert endpoint is not None
    return endpoint


@pytest.fixture(params=["hiredis", "python"])
async def pipe(
    request: pytest.FixtureRequest, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[PipelinedRedis]:
    """A pipelined connection to the session's Redis, closed after the test: once parsing replies with hiredis
    (a test dependency, and what production uses when installed), once with the pure-Python parser."""
    if request.param == "hiredis":
        assert pipeline.HIREDIS, "hiredis is a test dependency: pip install -e '.[test]'"
    monkeypatch.setattr(pipeline, "HIREDIS", request.param == "hiredis")
    client = PipelinedRedis(endpoint_of(redis_url, socket_timeout=5))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(autouse=True)
def _clean_up(redis_url: str, key_prefix: str) -> Iterator[None]:
    """Delete what a test wrote to the shared Redis (binary key names would trip other tests' key scans)."""
    yield
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        for key in client.scan_iter(match=f"{key_prefix}*", count=1000):
            client.delete(key)


@pytest.fixture
def check(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the same Redis, to see what the pipeline really wrote."""
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        yield client


@pytest.fixture
def private(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private redis-server this test may freeze, kill and restart on the same port."""
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[RedisProcess, Path]]:
    """A private redis-server on TCP and a Unix socket, with a password and an ACL user; and its socket's path."""
    socket_path = tmp_path / "r.sock"
    assert len(str(socket_path)) < 100, "Unix socket paths are limited to ~107 bytes"
    server = RedisProcess(tmp_path / "redis", persistent=False)
    server.extra = ("--unixsocket", str(socket_path), "--unixsocketperm", "700")
    server.start()  # start_redis waits for +PONG, so the password is set once it answers
    try:
        with redis.Redis(port=server.port, socket_timeout=5) as admin:
            admin.execute_command("ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "+@all")
            admin.config_set("requirepass", PASSWORD)
        yield server, socket_path
    finally:
        server.stop()


async def wait_closed_on_server(port: int, connection: int, password: str | None = None) -> None:
    """Until the server no longer lists connection id ``connection`` (it notices a close asynchronously)."""
    deadline = time.monotonic() + 5
    with redis.Redis(port=port, password=password, socket_timeout=5) as admin:
        while any(int(entry["id"]) == connection for entry in admin.client_list()):
            assert time.monotonic() < deadline, f"connection {connection} is still open on the server"
            await asyncio.sleep(0.02)


async def client_id(client: PipelinedRedis) -> int:
    """The server's id for the connection ``client`` is on now."""
    value = await client.execute("CLIENT", "ID")
    assert isinstance(value, int)
    return value


# -- parse: pure ----------------------------------------------------------------------------------

REPLIES: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", b"OK"),
    (b"+\r\n", b""),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"$6\r\n\r\n$1\r\n\r\n", b"\r\n$1\r\n"),
    (b"*0\r\n", []),
    (b"*-1\r\n", None),
    (b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n", [b"a", None, 7]),
    (b"*2\r\n*2\r\n+x\r\n*-1\r\n*1\r\n*0\r\n", [[b"x", None], [[]]]),
    (b"*2\r\n$2\r\n\r\n\r\n*1\r\n$0\r\n\r\n", [b"\r\n", [b""]]),
]


@pytest.mark.parametrize(("wire", "expected"), REPLIES)
def test_parse_every_reply_type(wire: bytes, expected: Any) -> None:
    """Each RESP2 reply type gives its Python value and the position just past it, in bytes or a bytearray."""
    assert parse(wire, 0) == (expected, len(wire))
    assert parse(bytearray(b"+ignored\r\n" + wire), 10) == (expected, 10 + len(wire))


@pytest.mark.parametrize(("wire", "expected"), REPLIES)
def test_parse_is_incomplete_until_the_last_byte(wire: bytes, expected: Any) -> None:
    """Fed byte by byte after a consumed reply, a reply is ``INCOMPLETE`` (position kept) until its last byte."""
    buf = bytearray(b":1\r\n")
    for index in range(len(wire)):
        buf.append(wire[index])
        value, pos = parse(buf, 4)
        if index < len(wire) - 1:
            assert value is INCOMPLETE, f"complete after {index + 1} of {len(wire)} bytes"
            assert pos == 4
    assert (value, pos) == (expected, 4 + len(wire))


ERRORS: list[tuple[bytes, type[rexc.RedisError]]] = [
    (b"NOSCRIPT No matching script. Please use EVAL.", rexc.NoScriptError),
    (b"WRONGTYPE Operation against a key holding the wrong kind of value", rexc.ResponseError),
    (b"ERR unknown command 'NOPE', with args beginning with: ", rexc.ResponseError),
    (b"WRONGPASS invalid username-password pair or user is disabled.", rexc.AuthenticationError),
    (b"NOAUTH Authentication required.", rexc.AuthenticationError),
    (b"ERR invalid password", rexc.AuthenticationError),
    (b"READONLY You can't write against a read only replica.", rexc.ReadOnlyError),
    (b"LOADING Redis is loading the dataset in memory", rexc.BusyLoadingError),
    (b"OOM command not allowed when used memory > 'maxmemory'.", rexc.OutOfMemoryError),
    (b"NOPERM this user has no permissions to run the 'get' command", rexc.NoPermissionError),
    (b"EXECABORT Transaction discarded because of previous errors.", rexc.ExecAbortError),
    (b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", rexc.MasterDownError),
]


@pytest.mark.parametrize(("line", "kind"), ERRORS)
def test_parse_error_reply_returns_the_redis_py_exception(line: bytes, kind: type[rexc.RedisError]) -> None:
    """An error reply is returned (not raised) as an instance of the exact class redis-py would raise."""
    value, pos = parse(b"-" + line + b"\r\n", 0)
    assert type(value) is kind
    assert pos == len(line) + 3
    assert str(value).endswith(line.decode().split(" ", 1)[1])


#: Ways to make a real server answer with an error reply: (what the test calls it, set-up commands run by an
#: admin connection, the commands the client under test sends; the last one's error is compared).
REAL_ERRORS: list[tuple[str, list[tuple[Arg, ...]], list[tuple[Arg, ...]]]] = [
    ("NOSCRIPT", [], [("EVALSHA", "0" * 40, 0)]),
    ("WRONGTYPE", [("SET", "pipeline-test:string", "x")], [("HGET", "pipeline-test:string", "f")]),
    ("unknown command", [], [("NOPE",)]),
    ("wrong arity", [], [("GET",)]),
    ("AUTH without a password set", [], [("AUTH", "whatever")]),
    ("WRONGPASS", [("ACL", "SETUSER", "someone", "on", ">right", "~*", "+@all")], [("AUTH", "someone", "wrong")]),
    ("NOPERM", [("ACL", "SETUSER", "narrow", "on", ">pw", "~*", "+auth")], [("AUTH", "narrow", "pw"), ("GET", "k")]),
    (
        "OOM",
        [("CONFIG", "SET", "maxmemory", "1"), ("CONFIG", "SET", "maxmemory-policy", "noeviction")],
        [("SET", "pipeline-test:big", "x" * 1000)],
    ),
    ("EXECABORT", [], [("MULTI",), ("NOPE",), ("EXEC",)]),
    # A replica of a server that is not there is still a read-only replica.
    ("READONLY", [("REPLICAOF", "127.0.0.1", free_port())], [("SET", "pipeline-test:k", "v")]),
    ("max number of clients", [("CONFIG", "SET", "maxclients", "1")], [("PING",)]),
]


async def last_error(send: Callable[..., Any], commands: list[tuple[Arg, ...]]) -> BaseException:
    """The exception the last of ``commands`` raises (the ones before it must succeed or fail harmlessly)."""
    for command in commands[:-1]:
        with contextlib.suppress(rexc.ResponseError):
            await send(*command)
    with pytest.raises(rexc.RedisError) as raised:
        await send(*commands[-1])
    return raised.value


@pytest.mark.parametrize(("name", "setup", "commands"), REAL_ERRORS, ids=[case[0] for case in REAL_ERRORS])
async def test_error_replies_classified_as_redis_py_client_classifies_them(
    tmp_path: Path, name: str, setup: list[tuple[Arg, ...]], commands: list[tuple[Arg, ...]]
) -> None:
    """The same failure from a real server, through redis-py's own client and through the pipeline: the pipeline's
    exception is of redis-py's class or a base of it, and the store calls both unavailable or neither. (redis-py
    may add subclasses, as 8.2 did with ``MaxClientsReachedError``; handling by the public base keeps working.)"""
    with redis_server(tmp_path / "redis") as server:
        # The pipeline's connection (and, for max-clients, the admin's) opens before the set-up limits clients.
        ours = PipelinedRedis(endpoint_of(server.url, socket_timeout=5))
        theirs = aioredis.Redis.from_url(server.url, socket_timeout=5, single_connection_client=True)
        try:
            await ours.execute("PING")
            await theirs.ping()
            with redis.Redis(port=server.port, socket_timeout=5) as admin:
                admin.ping()
                for command in setup:
                    admin.execute_command(*command)
                if name == "max number of clients":  # new connections now meet the limit: fresh clients for both
                    await ours.aclose()
                    await theirs.aclose()
                    theirs = aioredis.Redis.from_url(server.url, socket_timeout=5, single_connection_client=True)
                expected = await last_error(theirs.execute_command, commands)
                got = await last_error(ours.execute_once, commands)
        finally:
            await ours.aclose()
            await theirs.aclose()
    assert isinstance(expected, type(got)), f"{name}: redis-py raised {expected!r}, the pipeline {got!r}"
    assert type(got) is not rexc.RedisError, name
    assert unavailable(got) == unavailable(expected), name


@pytest.mark.parametrize("reader", [pipeline._HiredisReader, pipeline._PythonReader])
def test_both_readers_give_the_same_replies_fed_byte_by_byte(reader: Callable[[], pipeline.Reader]) -> None:
    """hiredis and the Python parser hand the connection identical values, errors included."""
    wire = b"".join(w for w, _ in REPLIES) + b"-NOSCRIPT No matching script\r\n"
    parsed = reader()
    got: list[Any] = []
    for byte in wire:
        parsed.feed(bytes([byte]))
        while (reply := parsed.gets()) is not INCOMPLETE:
            got.append(reply)
    assert got[:-1] == [expected for _, expected in REPLIES]
    assert type(got[-1]) is rexc.NoScriptError
    assert not parsed.has_data()
    parsed.feed(b"+OK\r\n+PARTIAL")
    assert parsed.gets() == b"OK" and parsed.has_data()


def test_the_connection_parses_with_hiredis_when_it_is_installed() -> None:
    assert pipeline.HIREDIS
    assert isinstance(pipeline.new_reader(), pipeline._HiredisReader)


def test_parse_error_inside_an_array() -> None:
    """An error inside an array (as EXEC answers) is an element, not a failure of the whole reply."""
    wire = b"*2\r\n+OK\r\n-WRONGTYPE nope\r\n"
    value, pos = parse(wire, 0)
    assert pos == len(wire)
    assert value[0] == b"OK"
    assert type(value[1]) is rexc.ResponseError


def test_parse_replies_back_to_back() -> None:
    """Replies sharing one buffer are read one after the other, each ending where the next begins."""
    buf = b"".join(wire for wire, _ in REPLIES)
    pos = 0
    for wire, expected in REPLIES:
        value, after = parse(buf, pos)
        assert (value, after) == (expected, pos + len(wire))
        pos = after
    assert pos == len(buf)
    assert parse(buf[:-1], pos - len(REPLIES[-1][0]))[0] is INCOMPLETE


@pytest.mark.parametrize(
    ("wire", "error"),
    [(b"?what\r\n", rexc.InvalidResponse), (b"$x\r\n", ValueError), (b":1.5\r\n", ValueError)],
)
def test_parse_rejects_garbage(wire: bytes, error: type[Exception]) -> None:
    """An unknown type byte or a malformed number raises (the connection turns that into ConnectionError)."""
    with pytest.raises(error):
        parse(wire, 0)


# -- pack: pure -----------------------------------------------------------------------------------


def test_pack_encodes_a_command_as_an_array_of_bulk_strings() -> None:
    """str, bytes and int arguments become bulk strings; a str's length is counted in UTF-8 bytes."""
    assert pack(("SET", b"k", 5)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert pack(("ECHO", "é")) == b"*2\r\n$4\r\nECHO\r\n$2\r\n\xc3\xa9\r\n"
    assert pack(("X", "", -7)) == b"*3\r\n$1\r\nX\r\n$0\r\n\r\n$2\r\n-7\r\n"
    assert pack(()) == b"*0\r\n"


@pytest.mark.parametrize(
    "args", [("PING",), ("SET", "clé", "välue"), ("HSET", b"h", 0, -1, 12345678901234567890), ("SET", BINARY, BINARY)]
)
def test_pack_round_trips_through_parse(args: tuple[Arg, ...]) -> None:
    """What ``pack`` writes parses back to the arguments as bytes, binary ones included."""
    wire = pack(args)
    expected = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    assert parse(wire, 0) == (expected, len(wire))


# -- replies paired in order, however they are split (no socket) ------------------------------------

STREAM = b"+OK\r\n$6\r\nab\r\ncd\r\n-NOSCRIPT gone\r\n*2\r\n$1\r\na\r\n*-1\r\n:42\r\n$-1\r\n"


def check_stream_results(futures: list[asyncio.Future[Any]]) -> None:
    assert [f.result() for f in futures[:2]] == [b"OK", b"ab\r\ncd"]
    assert type(futures[2].exception()) is rexc.NoScriptError
    assert [f.result() for f in futures[3:]] == [[b"a", None], 42, None]


async def test_replies_split_anywhere_are_paired_in_order() -> None:
    """Whatever the split of the reply stream across reads, each command gets its own reply, errors included."""
    for cut in range(1, len(STREAM)):
        conn = _Connection(None)
        futures = [conn.send(b"") for _ in range(6)]
        conn.data_received(STREAM[:cut])
        assert not futures[-1].done()
        conn.data_received(STREAM[cut:])
        check_stream_results(futures)
        assert conn.failure is None

    conn = _Connection(None)
    futures = [conn.send(b"") for _ in range(6)]
    for index in range(len(STREAM)):
        conn.data_received(STREAM[index : index + 1])
    check_stream_results(futures)


async def test_reply_to_no_command_drops_the_connection() -> None:
    """Bytes beyond the replies owed mean the pairing is lost: the connection fails and refuses new commands."""
    conn = _Connection(None)
    first = conn.send(b"")
    conn.data_received(b"+OK\r\n+EXTRA\r\n")
    assert first.result() == b"OK"
    assert isinstance(conn.failure, rexc.ConnectionError)
    with pytest.raises(rexc.ConnectionError):
        await conn.send(b"")


async def test_unreadable_reply_fails_every_pending_command() -> None:
    """A reply that cannot be parsed fails all commands waiting on the connection with ConnectionError."""
    conn = _Connection(None)
    futures = [conn.send(b"") for _ in range(3)]
    conn.data_received(b":1\r\n?garbage\r\n")
    assert futures[0].result() == 1
    for future in futures[1:]:
        assert isinstance(future.exception(), rexc.ConnectionError)


class _Written:
    """What a connection wrote, one entry per ``write`` call (the transport's side only; no Redis here)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


async def test_a_burst_leaves_every_early_write_commands_and_the_rest_at_the_iterations_end() -> None:
    """Redis starts on a burst's first commands while the worker is still queueing the rest: each
    ``EARLY_WRITE`` commands leave at once, in order, and what remains leaves when the iteration ends."""
    conn = _Connection(None)
    transport = _Written()
    conn.connection_made(transport)  # type: ignore[arg-type]
    size = pipeline.EARLY_WRITE
    commands = [pack(("GET", f"k{i}")) for i in range(2 * size + 3)]
    futures = [conn.send(command) for command in commands]
    assert transport.writes == [b"".join(commands[:size]), b"".join(commands[size : 2 * size])]
    await asyncio.sleep(0)
    assert transport.writes[2:] == [b"".join(commands[2 * size :])]
    await asyncio.sleep(0)
    assert len(transport.writes) == 3  # the flushes scheduled after each early write found nothing left
    conn.data_received(b"".join(b":%d\r\n" % i for i in range(len(commands))))
    assert [f.result() for f in futures] == list(range(len(commands)))


async def test_a_few_commands_leave_together_at_the_iterations_end() -> None:
    """Fewer than ``EARLY_WRITE`` commands in an iteration: nothing is written until it ends, then one write."""
    conn = _Connection(None)
    transport = _Written()
    conn.connection_made(transport)  # type: ignore[arg-type]
    commands = [pack(("PING",)) for _ in range(pipeline.EARLY_WRITE - 1)]
    for command in commands:
        conn.send(command)
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"".join(commands)]


# -- against the session's Redis --------------------------------------------------------------------


async def test_concurrent_commands_get_their_own_replies(
    pipe: PipelinedRedis, check: redis.Redis, key_prefix: str
) -> None:
    """200 concurrent SET-then-GET of distinct keys: every caller reads back exactly its own value."""

    def value(i: int) -> bytes:
        return b"%d:" % i + BINARY[: i % 40] * (i % 5)

    async def one(i: int) -> tuple[Any, Any, Any]:
        key = f"{key_prefix}:c{i}"
        return (
            await pipe.execute("SET", key, value(i)),
            await pipe.execute("GET", key),
            await pipe.execute("STRLEN", key),
        )

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == [(b"OK", value(i), len(value(i))) for i in range(200)]
    assert check.mget([f"{key_prefix}:c{i}" for i in range(200)]) == [value(i) for i in range(200)]


async def test_binary_values_round_trip(pipe: PipelinedRedis, check: redis.Redis, key_prefix: str) -> None:
    """Keys and values with NUL, CR LF and RESP markers inside are stored and read back byte for byte."""
    key = f"{key_prefix}:".encode() + BINARY
    assert await pipe.execute("SET", key, BINARY) == b"OK"
    assert await pipe.execute("GET", key) == BINARY
    assert check.get(key) == BINARY
    check.set(key + b"2", BINARY[::-1])
    assert await pipe.execute("GET", key + b"2") == BINARY[::-1]


async def test_large_replies_spanning_many_reads(pipe: PipelinedRedis, key_prefix: str) -> None:
    """A multi-megabyte bulk string and a 5000-element array arrive in many reads and still parse whole."""
    big = BINARY * 12_000  # ~3.5 MB
    keys = [f"{key_prefix}:m{i}" for i in range(5000)]
    await pipe.execute("MSET", *(part for i, key in enumerate(keys) for part in (key, i)))
    results = await asyncio.gather(
        pipe.execute("SET", f"{key_prefix}:big", big),
        pipe.execute("GET", f"{key_prefix}:big"),
        pipe.execute("MGET", *keys),
        pipe.execute("PING"),
    )
    assert list(results) == [b"OK", big, [str(i).encode() for i in range(5000)], b"PONG"]


async def test_array_and_integer_replies(pipe: PipelinedRedis, key_prefix: str) -> None:
    """MGET, HGETALL, LRANGE and EVAL give nested lists, integers and None as RESP2 has them."""
    k = f"{key_prefix}:a"
    assert await pipe.execute("MSET", f"{k}1", "one", f"{k}3", 3) == b"OK"
    assert await pipe.execute("MGET", f"{k}1", f"{k}2", f"{k}3") == [b"one", None, b"3"]
    assert await pipe.execute("HSET", f"{k}h", "f1", "v1", "f2", 2) == 2
    assert await pipe.execute("HGETALL", f"{k}h") == [b"f1", b"v1", b"f2", b"2"]
    assert await pipe.execute("HGETALL", f"{k}missing") == []
    assert await pipe.execute("RPUSH", f"{k}l", "x", "y") == 2
    assert await pipe.execute("LRANGE", f"{k}l", 0, -1) == [b"x", b"y"]
    assert await pipe.execute("EXISTS", f"{k}1", f"{k}2", f"{k}3") == 2
    script = "return {1, 'two', {3, {KEYS[1]}}, false, tonumber(ARGV[1]) * 2}"
    assert await pipe.execute("EVAL", script, 1, f"{k}1", 21) == [1, b"two", [3, [f"{k}1".encode()]], None, 42]
    assert await pipe.execute("EVAL", "return redis.status_reply('FINE')", 0) == b"FINE"


async def test_error_reply_fails_only_its_own_command(pipe: PipelinedRedis, key_prefix: str) -> None:
    """In one batch, commands answered with errors raise the right class; the commands around them succeed."""
    k = f"{key_prefix}:e"
    await pipe.execute("PING")  # connected, so the batch below leaves in one write
    results = await asyncio.gather(
        pipe.execute("SET", k, "v"),
        pipe.execute("EVALSHA", "0" * 40, 0),
        pipe.execute("GET", k),
        pipe.execute("LPUSH", k, "x"),
        pipe.execute("INCR", f"{k}n"),
        pipe.execute("NOSUCHCOMMAND", "a"),
        pipe.execute("EVAL", "return redis.error_reply('MYERR custom')", 0),
        pipe.execute("INCR", f"{k}n"),
        return_exceptions=True,
    )
    assert results[0] == b"OK"
    assert type(results[1]) is rexc.NoScriptError
    assert results[2] == b"v"
    assert type(results[3]) is rexc.ResponseError
    assert "WRONGTYPE" in str(results[3])
    assert results[4] == 1
    assert type(results[5]) is rexc.ResponseError
    assert type(results[6]) is rexc.ResponseError
    assert "MYERR custom" in str(results[6])
    assert results[7] == 2
    assert await pipe.execute("GET", k) == b"v"


async def test_slow_commands_within_the_timeout_succeed(redis_url: str, key_prefix: str) -> None:
    """The one timer follows the oldest command: a later, slower command is not failed on an earlier deadline."""
    client = PipelinedRedis(endpoint_of(redis_url, socket_timeout=1.0))
    try:
        first = asyncio.create_task(client.execute("BLPOP", f"{key_prefix}:none1", "0.5"))  # deadline 1.0
        await asyncio.sleep(0.7)
        second = asyncio.create_task(client.execute("BLPOP", f"{key_prefix}:none2", "0.6"))  # deadline 1.7
        assert await first is None
        assert await second is None  # answered at ~1.3: past the first deadline, within its own
        assert await client.execute("PING") == b"PONG"
    finally:
        await client.aclose()


# -- cancelled callers --------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["queued", "sent"])
async def test_cancelled_callers_do_not_desynchronise_replies(
    pipe: PipelinedRedis, check: redis.Redis, key_prefix: str, moment: str
) -> None:
    """Callers cancelled before their replies arrive (queued, or sent and waiting) leave every other pairing right."""
    keys = [f"{key_prefix}:k{i}" for i in range(60)]
    check.mset({key: f"value-{i}" for i, key in enumerate(keys) if i % 5})  # every fifth key is missing
    expected = [None if i % 5 == 0 else f"value-{i}".encode() for i in range(60)]
    connection = await client_id(pipe)  # connected, so the GETs are sent right away

    blocker = None
    if moment == "sent":
        # The server answers nothing on this connection until the blocking pop is served below.
        blocker = asyncio.create_task(pipe.execute("BLPOP", f"{key_prefix}:gate", 0))
    tasks = [asyncio.create_task(pipe.execute("GET", key)) for key in keys]
    await asyncio.sleep(0.05 if moment == "sent" else 0)  # "queued": sent in this iteration, not written yet
    for task in tasks[::3]:
        task.cancel()
    if blocker is not None:
        check.lpush(f"{key_prefix}:gate", "go")
        assert await blocker == [f"{key_prefix}:gate".encode(), b"go"]

    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, result in enumerate(results):
        if i % 3 == 0:
            assert tasks[i].cancelled()
        else:
            assert result == expected[i], i
    assert await asyncio.gather(*(pipe.execute("GET", key) for key in keys)) == expected
    assert await pipe.execute("ECHO", "after") == b"after"
    assert await client_id(pipe) == connection, "a cancelled caller cost the connection"


async def test_cancelled_caller_does_not_cancel_a_shared_connect(redis_url: str) -> None:
    """One caller cancelled while the connection is being opened does not fail the others waiting for it."""
    client = PipelinedRedis(endpoint_of(redis_url, socket_timeout=5))
    try:
        tasks = [asyncio.create_task(client.execute("ECHO", i)) for i in range(10)]
        await asyncio.sleep(0)  # every task is now waiting for the one connect
        tasks[0].cancel()
        results = await asyncio.gather(*tasks[1:])
        assert results == [str(i).encode() for i in range(1, 10)]
        assert tasks[0].cancelled()
    finally:
        await client.aclose()


# -- sign-in, database, Unix socket -------------------------------------------------------------------


def assert_only_in_db(server: RedisProcess, key: str, value: bytes, *, db: int) -> None:
    """``key`` holds ``value`` in database ``db`` of ``server``, and is absent from database 0."""
    with redis.Redis(port=server.port, password=PASSWORD, db=db) as chosen:
        assert chosen.get(key) == value
    with redis.Redis(port=server.port, password=PASSWORD, db=0) as default:
        assert default.get(key) is None


async def test_unix_socket_with_password_and_db(secured: tuple[RedisProcess, Path], key_prefix: str) -> None:
    """``unix://:pw@/path?db=3`` signs in over the socket and selects db 3: the key lands there, nowhere else."""
    server, socket_path = secured
    endpoint = endpoint_of(f"unix://:{PASSWORD}@{socket_path}?db=3")
    assert (endpoint.path, endpoint.db, endpoint.password, endpoint.username) == (str(socket_path), 3, PASSWORD, None)
    client = PipelinedRedis(endpoint)
    try:
        assert await client.execute("SET", f"{key_prefix}:u", "in-3") == b"OK"
        info = await client.execute("CLIENT", "INFO")
        assert f"laddr={socket_path}:".encode() in info
        assert b" db=3 " in info
    finally:
        await client.aclose()
    assert_only_in_db(server, f"{key_prefix}:u", b"in-3", db=3)


async def test_tcp_with_password_db_and_client_name(secured: tuple[RedisProcess, Path], key_prefix: str) -> None:
    """``redis://:pw@host:port/2?client_name=..`` signs in, names the connection and writes to db 2."""
    server, _ = secured
    client = PipelinedRedis(endpoint_of(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/2?client_name=piped"))
    try:
        assert await client.execute("SET", f"{key_prefix}:t", "in-2") == b"OK"
        assert await client.execute("CLIENT", "GETNAME") == b"piped"
        assert await client.execute("ACL", "WHOAMI") == b"default"
    finally:
        await client.aclose()
    assert_only_in_db(server, f"{key_prefix}:t", b"in-2", db=2)


async def test_acl_user_and_db(secured: tuple[RedisProcess, Path], key_prefix: str) -> None:
    """``redis://user:pw@host:port/1`` signs in as the ACL user and writes to db 1."""
    server, _ = secured
    client = PipelinedRedis(endpoint_of(f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{server.port}/1"))
    try:
        assert await client.execute("ACL", "WHOAMI") == ACL_USER.encode()
        assert await client.execute("SET", f"{key_prefix}:acl", "in-1") == b"OK"
    finally:
        await client.aclose()
    with redis.Redis(port=server.port, username=ACL_USER, password=ACL_PASSWORD, db=1) as db1:
        assert db1.get(f"{key_prefix}:acl") == b"in-1"


@pytest.mark.parametrize(
    "url",
    [
        "unix://:wrong@{socket}?db=3",
        "redis://:wrong@127.0.0.1:{port}/0",
        "redis://:wrong@127.0.0.1:{port}/2",
        f"redis://{ACL_USER}:wrong@127.0.0.1:{{port}}/0",
        "redis://nobody:{password}@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0",  # no password at all: NOAUTH on the first command
    ],
)
async def test_bad_credentials_raise_authentication_error(secured: tuple[RedisProcess, Path], url: str) -> None:
    """A wrong or missing password, or an unknown user, raises redis-py's AuthenticationError."""
    server, socket_path = secured
    client = PipelinedRedis(endpoint_of(url.format(socket=socket_path, port=server.port, password=PASSWORD)))
    try:
        with pytest.raises(rexc.AuthenticationError):
            await client.execute("GET", "k")
    finally:
        await client.aclose()


# -- timeouts, lost connections, reconnects ------------------------------------------------------------


async def test_frozen_server_times_out_then_recovers(private: RedisProcess, key_prefix: str) -> None:
    """SIGSTOP: every pending command fails with TimeoutError about ``timeout`` after the oldest was sent; after
    SIGCONT the next command works, on a new connection."""
    client = PipelinedRedis(Endpoint(port=private.port, timeout=TIMEOUT, connect_timeout=TIMEOUT))
    try:
        assert await client.execute("SET", f"{key_prefix}:f", "before") == b"OK"
        before = await client_id(client)
        private.freeze()
        try:
            started = time.monotonic()
            async with asyncio.timeout(TIMEOUT + SLACK):  # a hang fails the test instead of stalling it
                results = await asyncio.gather(
                    *(client.execute("GET", f"{key_prefix}:f") for _ in range(5)), return_exceptions=True
                )
            elapsed = time.monotonic() - started
            assert all(type(result) is rexc.TimeoutError for result in results), results
            assert elapsed >= TIMEOUT * 0.8
            # Still frozen: the kernel accepts the new connection, the command on it times out again.
            async with asyncio.timeout(TIMEOUT + SLACK):
                with pytest.raises(rexc.TimeoutError):
                    await client.execute("PING")
        finally:
            private.thaw()
        assert await client.execute("GET", f"{key_prefix}:f") == b"before"
        assert await client_id(client) > before
        await wait_closed_on_server(private.port, before)  # the timed-out connection was dropped
        assert await client.execute("ECHO", "paired") == b"paired"
    finally:
        await client.aclose()


async def test_restart_while_idle_is_retried_on_a_new_connection(private: RedisProcess) -> None:
    """Killed while idle and restarted on the same port: the next command's one retry succeeds."""
    client = PipelinedRedis(Endpoint(port=private.port, timeout=5))
    try:
        assert await client.execute("PING") == b"PONG"
        private.kill()
        private.start()  # blocking: the event loop has not seen the old connection close yet
        assert await client.execute("SET", "after", "restart") == b"OK"
        assert await client.execute("GET", "after") == b"restart"
    finally:
        await client.aclose()


async def test_server_killed_mid_command_fails_pending_with_connection_error(private: RedisProcess) -> None:
    """A connection lost with commands in flight fails them with ConnectionError at once, not after the timeout."""
    client = PipelinedRedis(Endpoint(port=private.port, timeout=30, connect_timeout=5))
    try:
        assert await client.execute("PING") == b"PONG"
        tasks = [asyncio.create_task(client.execute("BLPOP", "never", 0))]
        tasks += [asyncio.create_task(client.execute("GET", f"k{i}")) for i in range(3)]
        await asyncio.sleep(0.1)
        private.kill()
        async with asyncio.timeout(SLACK):
            results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(type(result) is rexc.ConnectionError for result in results), results
    finally:
        await client.aclose()


async def test_server_down_fails_fast_with_connection_error() -> None:
    """Nothing listening: ConnectionError (not a timeout, not a hang) well within the connect timeout."""
    client = PipelinedRedis(Endpoint(port=free_port(), timeout=10, connect_timeout=10))
    try:
        started = time.monotonic()
        with pytest.raises(rexc.ConnectionError) as caught:
            await client.execute("PING")
        assert type(caught.value) is rexc.ConnectionError
        assert time.monotonic() - started < SLACK
    finally:
        await client.aclose()


async def test_aclose_then_execute_reopens(pipe: PipelinedRedis, check: redis.Redis) -> None:
    """``aclose`` closes the connection (the server sees it go); the next command opens a new one."""
    first = await client_id(pipe)
    await pipe.aclose()
    deadline = time.monotonic() + 5
    while any(int(entry["id"]) == first for entry in check.client_list()):
        assert time.monotonic() < deadline, f"connection {first} is still open on the server"
        await asyncio.sleep(0.02)
    assert await pipe.execute("PING") == b"PONG"
    assert await client_id(pipe) > first


async def test_aclose_leaves_no_connection_open(pipe: PipelinedRedis, key_prefix: str) -> None:
    """A command still waiting when ``aclose`` runs fails; the closed client holds no connection afterwards."""
    await pipe.execute("PING")
    waiting = asyncio.create_task(pipe.execute("BLPOP", f"{key_prefix}:never", "0.3"))
    await asyncio.sleep(0.05)
    try:
        await pipe.aclose()
        with pytest.raises(rexc.ConnectionError):
            await waiting
        assert pipe._conn is None
    finally:
        await asyncio.gather(waiting, return_exceptions=True)
        await pipe.aclose()


async def test_aclose_during_connect_fails_waiters_with_connection_error(redis_url: str) -> None:
    """A caller waiting for the connection when ``aclose`` runs gets ConnectionError, not a CancelledError."""
    client = PipelinedRedis(endpoint_of(redis_url, socket_timeout=5))
    waiting = asyncio.create_task(client.execute("PING"))
    await asyncio.sleep(0)  # waiting for the connect
    await client.aclose()
    try:
        result = await asyncio.gather(waiting, return_exceptions=True)
        assert not waiting.cancelled()
        assert isinstance(result[0], rexc.ConnectionError | bytes)
    finally:
        await client.aclose()


# -- Endpoint.of_pool ------------------------------------------------------------------------------------


class _TracedConnection(aioredis.Connection):
    """A custom connection class: its connections may do more than the pipeline would."""


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("redis://127.0.0.1:6379/0", {"connection_class": _TracedConnection}),
        ("redis://127.0.0.1:6379/0?protocol=3", {}),
        ("redis://127.0.0.1:6379/0", {"credential_provider": UsernamePasswordCredentialProvider("u", "p")}),
    ],
    ids=["custom-connection-class", "resp3", "credential-provider"],
)
def test_of_pool_declines_connections_it_cannot_make(url: str, options: dict[str, Any]) -> None:
    """A custom connection class, RESP3 or a credential provider: ``None``, the pool stays on redis-py."""
    assert Endpoint.of_pool(aioredis.ConnectionPool.from_url(url, **options)) is None


def test_of_pool_reads_a_redis_url() -> None:
    """Host, port, db, user, password, client name and both timeouts come from the pool's URL and options."""
    url = "redis://alice:p%40ss@redis.example:6390/4?client_name=api"
    assert endpoint_of(url, socket_timeout=1.5, socket_connect_timeout=3) == Endpoint(
        host="redis.example",
        port=6390,
        path=None,
        db=4,
        username="alice",
        password="p@ss",
        client_name="api",
        connect_timeout=3,
        timeout=1.5,
    )
    # Without a connect timeout the command timeout bounds the connect too.
    assert endpoint_of("redis://:pw@10.0.0.1:7000/2", socket_timeout=2) == Endpoint(
        host="10.0.0.1", port=7000, db=2, password="pw", connect_timeout=2, timeout=2
    )
    # Without either, redis-py's default of 5 s bounds both, rather than waiting forever.
    assert endpoint_of("redis://localhost") == Endpoint(connect_timeout=5.0, timeout=5.0)


def test_of_pool_reads_a_unix_url() -> None:
    """``unix://:pw@/path?db=3`` gives the socket path, password and db."""
    endpoint = endpoint_of("unix://:pw@/run/redis/redis.sock?db=3")
    assert (endpoint.path, endpoint.password, endpoint.username, endpoint.db) == (
        "/run/redis/redis.sock",
        "pw",
        None,
        3,
    )
    assert endpoint.describe() == "unix:/run/redis/redis.sock"


# -- asyncio's event loop and uvloop ---------------------------------------------------------------------

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


async def loop_scenario(redis_url: str, server: RedisProcess, socket_path: Path, prefix: str) -> None:
    """SET/GET, concurrency, errors, a cancelled caller, a Unix socket with sign-in, a timeout and a reconnect."""
    tcp = PipelinedRedis(endpoint_of(redis_url, socket_timeout=5))
    unix = PipelinedRedis(
        Endpoint(path=str(socket_path), password=PASSWORD, db=5, timeout=TIMEOUT, connect_timeout=TIMEOUT)
    )
    try:
        assert await tcp.execute("SET", f"{prefix}:bin", BINARY) == b"OK"
        assert await tcp.execute("GET", f"{prefix}:bin") == BINARY
        values = await asyncio.gather(*(tcp.execute("ECHO", f"v{i}") for i in range(200)))
        assert values == [f"v{i}".encode() for i in range(200)]
        batch = await asyncio.gather(
            tcp.execute("EVALSHA", "f" * 40, 0), tcp.execute("INCR", f"{prefix}:n"), return_exceptions=True
        )
        assert type(batch[0]) is rexc.NoScriptError
        assert batch[1] == 1
        tasks = [asyncio.create_task(tcp.execute("ECHO", i)) for i in range(20)]
        await asyncio.sleep(0)
        tasks[5].cancel()
        assert [await task for i, task in enumerate(tasks) if i != 5] == [str(i).encode() for i in range(20) if i != 5]

        assert await unix.execute("SET", f"{prefix}:u", "five") == b"OK"
        assert b" db=5 " in await unix.execute("CLIENT", "INFO")
        server.freeze()
        try:
            async with asyncio.timeout(TIMEOUT + SLACK):
                with pytest.raises(rexc.TimeoutError):
                    await unix.execute("GET", f"{prefix}:u")
        finally:
            server.thaw()
        assert await unix.execute("GET", f"{prefix}:u") == b"five"
        await unix.aclose()
        assert await unix.execute("GET", f"{prefix}:u") == b"five"
    finally:
        await tcp.aclose()
        await unix.aclose()


@pytest.mark.parametrize("loop_name", LOOPS)
def test_runs_on_asyncio_and_uvloop(
    loop_name: str, redis_url: str, secured: tuple[RedisProcess, Path], key_prefix: str
) -> None:
    """The same scenario passes on asyncio's loop and on uvloop, whose transports are not asyncio.Transport."""
    server, socket_path = secured
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, uvloop.Loop) == (loop_name == "uvloop")
        runner.run(loop_scenario(redis_url, server, socket_path, key_prefix))
