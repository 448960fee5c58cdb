"""Revocations made durable on the replicas before they are answered.

Redis replicates asynchronously: a primary that dies right after committing a revocation may take it along, and
the replica promoted in its place (by Sentinel or the Cluster) still holds the token, so every worker would
accept it again. So a revocation runs on a connection of this module's own to the primary that owns its keys,
sent together with ``INFO replication``, and is followed on that connection by ``WAIT`` for the primary's online
replicas (``WAIT`` counts the writes of its own connection). Only then is the revocation answered; if the
replicas do not acknowledge within the timeout, it is answered 503 (the revocation happened on the primary;
asking again is harmless). A primary with no replica costs nothing more: the revocation and ``INFO`` share one
round trip.

A write that revoked elsewhere (an issuing script that found a replay) is settled after the fact: a marker in the
same hash slot, set and deleted again by one script on this module's connection after the revocation (so nothing
is left behind), then ``WAIT``. Redis numbers every write in one replication stream, so once a replica has the
marker's writes it has the revocation too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as rexc

from .base import StoreUnavailable
from .pipeline import Endpoint, PipelinedRedis

T = TypeVar("T")
#: Runs one command on a given connection (``PipelinedRedis.execute_once`` of this module's).
Execute = Callable[..., Awaitable[Any]]

#: Where the primary that owns a key is now (``None``: on a connection this module cannot make).
Locate = Callable[[str], Awaitable[Endpoint | None]]

#: Writes the marker and takes it away: only the writes matter (WAIT counts the replication stream, not keys).
_MARK = "redis.call('SET', KEYS[1], '1'); return redis.call('DEL', KEYS[1])"


def online_replicas(info: bytes) -> int:
    """How many replicas ``INFO replication`` lists as online (one still loading a snapshot acknowledges nothing)."""
    lines = info.decode("utf-8", "replace").splitlines()
    return sum(1 for line in lines if line.startswith("slave") and ":" in line and "state=online" in line)


def marker_key(key: str) -> str:
    """``<prefix>:{<tag>}:settled``, in ``key``'s Cluster slot: ``key``'s hash tag if it has one, else ``key``."""
    head, brace, rest = key.partition("{")
    tag, closed, _ = rest.partition("}")
    if brace and closed and tag:
        return f"{head}{{{tag}}}:settled"
    prefix, _, _ = key.partition(":")
    return f"{prefix}:{{{key}}}:settled"


class ReplicaWait:
    """Waits for the replicas of whichever primary owns a key, on one connection per primary."""

    def __init__(self, locate: Locate, *, timeout: float) -> None:
        self._locate = locate
        #: WAIT's own bound, inside the connection's: the connection would otherwise drop first.
        self._wait_ms = max(1, round(timeout * 800))
        self._connections: dict[Endpoint, PipelinedRedis] = {}

    async def run(self, key: str, write: Callable[[Execute], Awaitable[T]], elsewhere: Callable[[], Awaitable[T]]) -> T:
        """``write(execute)`` on ``key``'s primary, answered once that primary's replicas have it. Where this
        module cannot reach the primary itself, or the slot just moved, ``elsewhere()`` runs it instead (on the
        store's usual path), settled after the fact."""
        connection = await self._connection(key)
        if connection is None:
            return await elsewhere()
        try:
            result, info = await asyncio.gather(
                write(connection.execute_once), connection.execute("INFO", "replication")
            )
        except (rexc.MovedError, rexc.AskError, rexc.TryAgainError):  # refused before it ran: the slot is moving
            result = await elsewhere()
            await self.settle(key)
            return result
        await self._wait(connection, online_replicas(info))
        return result

    async def settle(self, key: str) -> None:
        """Return once every online replica of ``key``'s primary has what that primary committed so far."""
        connection = await self._connection(key)
        if connection is None:
            return
        try:
            _, info = await asyncio.gather(
                connection.execute_once("EVAL", _MARK, 1, marker_key(key)),
                connection.execute("INFO", "replication"),
            )
        except (rexc.MovedError, rexc.AskError) as exc:  # a failover moved the slot: the primary is another now
            raise StoreUnavailable(f"redis unavailable: the revocation's primary changed ({exc})") from exc
        await self._wait(connection, online_replicas(info))

    async def _connection(self, key: str) -> PipelinedRedis | None:
        endpoint = await self._locate(key)
        if endpoint is None:
            return None
        connection = self._connections.get(endpoint)
        if connection is None:
            connection = self._connections[endpoint] = PipelinedRedis(endpoint)
        return connection

    async def _wait(self, connection: PipelinedRedis, replicas: int) -> None:
        if not replicas:
            return
        acknowledged = int(await connection.execute_once("WAIT", replicas, self._wait_ms))
        if acknowledged < replicas:
            raise StoreUnavailable(
                f"redis unavailable: {acknowledged} of {replicas} replicas acknowledged the revocation in time"
            )

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
