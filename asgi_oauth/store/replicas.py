"""Revocations made durable on the replicas before they are answered.

Redis replicates asynchronously: a primary that dies right after committing a revocation may take it along, and
the replica promoted in its place (by Sentinel or the Cluster) still holds the token, so every worker would
accept it again. So after a revocation commits, the store writes a short-lived marker in the same hash slot on a
connection of its own to that primary and sends ``WAIT`` for the primary's online replicas: Redis numbers every
write in one replication stream, so once the marker (written after the revocation) is acknowledged by a replica,
the revocation is too. Only then is the revocation answered; if the replicas do not acknowledge within the
timeout, it is answered 503 (the revocation happened on the primary; asking again is harmless).

A primary with no replica costs one round trip (the marker and ``INFO replication`` together).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redis import exceptions as rexc

from .base import StoreUnavailable
from .pipeline import Endpoint, PipelinedRedis

#: Where the primary that owns a key is now (``None``: on a connection this module cannot make).
Locate = Callable[[str], Awaitable[Endpoint | None]]

#: How long the marker lives: only its write matters (WAIT counts the replication stream, not the key).
_MARKER_MS = 1000


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

    async def settle(self, key: str) -> None:
        """Return once every online replica of ``key``'s primary has what that primary committed so far."""
        endpoint = await self._locate(key)
        if endpoint is None:
            return
        connection = self._connections.get(endpoint)
        if connection is None:
            connection = self._connections[endpoint] = PipelinedRedis(endpoint)
        marker = marker_key(key)
        try:
            _, info = await asyncio.gather(
                connection.execute_once("SET", marker, "1", "PX", _MARKER_MS),
                connection.execute("INFO", "replication"),
            )
            replicas = online_replicas(info)
            if not replicas:
                return
            acknowledged = int(await connection.execute_once("WAIT", replicas, self._wait_ms))
        except (rexc.MovedError, rexc.AskError) as exc:  # a failover moved the slot: the primary is another now
            raise StoreUnavailable(f"redis unavailable: the revocation's primary changed ({exc})") from exc
        if acknowledged < replicas:
            raise StoreUnavailable(
                f"redis unavailable: {acknowledged} of {replicas} replicas acknowledged the revocation in time"
            )

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
