"""What happened, for the operator: tokens issued, refreshed and revoked, attacks noticed, attempts throttled.

``OAuthServer(events=[hook, ...])`` takes async hooks, each called with an :class:`Event`. An event names
the client, the user, the token family and the sender's address, never a token, code or secret: the family
id is the public half of a token (its Redis hash tag), useless without the secret half.

Delivery is fire and forget: :meth:`Events.emit` starts each hook as its own task and returns, so a slow
hook (a remote log, a queue) adds nothing to the request that caused the event, and a hook's exception is
logged (``asgi_oauth`` logger) instead of reaching the request. An awaited hook would hold every token
response for as long as the slowest hook takes, and one that raised would turn a token already stored
into a 500. The price: events are not delivered once the process is gone, and a hook that falls far behind
loses events (at most :attr:`Events.max_pending` run at once; the excess is counted in
:attr:`Events.dropped` and logged). With no hooks, emitting costs one attribute check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .. import compact_json

logger = logging.getLogger("asgi_oauth")

#: What an event reports.
#: ``issued``: tokens from any grant but refresh_token; ``refreshed``: a refresh token rotated;
#: ``revoked``: a token, a grant, or everything of a user or a client ended (``what`` says which);
#: ``refresh_reused``: a spent refresh token presented again, so its family was revoked (RFC 9700 4.14.2);
#: ``code_replayed``: a spent authorization code presented again, revoking what it issued;
#: ``client_auth_failed``: a client failed to authenticate; ``throttled``: an attempt refused by the limits.
EventKind = Literal[
    "issued", "refreshed", "revoked", "refresh_reused", "code_replayed", "client_auth_failed", "throttled"
]
EVENT_KINDS: tuple[EventKind, ...] = (
    "issued",
    "refreshed",
    "revoked",
    "refresh_reused",
    "code_replayed",
    "client_auth_failed",
    "throttled",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. Fields are ``None`` where unknown or not applicable."""

    kind: EventKind
    #: The client concerned (for ``client_auth_failed``, the id it claimed).
    client_id: str | None = None
    #: The user's subject; for ``throttled`` sign-ins, the user name that was tried.
    user: str | None = None
    #: The token family (grant) concerned: the public first part of its tokens.
    family_id: str | None = None
    #: The sender's address, as the ASGI server reports it.
    address: str | None = None
    #: ``issued``/``refreshed``/``refresh_reused``/``code_replayed``: the grant type.
    #: ``revoked``: ``token``, ``grant``, ``user`` or ``client``.
    what: str | None = None
    #: ``revoked`` by user or client: how many grants ended. ``throttled``: seconds until allowed again.
    count: int | None = None
    #: Epoch seconds.
    at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, without ``None`` fields."""
        return {name: value for name, value in asdict(self).items() if value is not None}


#: An event hook: awaited in its own task, never by the request that caused the event.
EventHook = Callable[[Event], Awaitable[None]]


class Events:
    """Hands events to the hooks (see the module docstring for why fire and forget).

    ``counter``, when given, is called synchronously with each event before the hooks run (the Prometheus
    event count uses it: a counter increment needs no task).
    """

    #: Hook tasks allowed to run at once; beyond it events are dropped, not queued without bound.
    max_pending = 10_000

    def __init__(
        self,
        hooks: Iterable[EventHook] = (),
        *,
        counter: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hooks = tuple(hooks)
        self.counter = counter
        self.clock = clock
        self.dropped = 0
        self._pending: set[asyncio.Task[None]] = set()
        self.active = bool(self.hooks) or counter is not None

    def emit(
        self,
        kind: EventKind,
        *,
        client_id: str | None = None,
        user: str | None = None,
        family_id: str | None = None,
        address: str | None = None,
        what: str | None = None,
        count: int | None = None,
    ) -> None:
        """Record an event; returns at once (hooks run in their own tasks)."""
        if not self.active:
            return
        event = Event(kind, client_id, user, family_id, address, what, count, self.clock())
        if self.counter is not None:
            self.counter(event)
        for hook in self.hooks:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                logger.warning("event hook backlog full: dropped a %s event", kind)
                continue
            task = asyncio.ensure_future(self._run(hook, event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    @staticmethod
    async def _run(hook: EventHook, event: Event) -> None:
        try:
            await hook(event)
        except Exception:
            logger.exception("event hook %r failed on a %s event", getattr(hook, "__name__", hook), event.kind)

    async def drain(self) -> None:
        """Wait for the hooks running now (tests, and a graceful shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending))


def json_lines(log: logging.Logger | None = None) -> EventHook:
    """A hook writing each event as one JSON object per line to ``log`` (INFO; default ``asgi_oauth.events``)."""
    target = log if log is not None else logging.getLogger("asgi_oauth.events")

    async def log_event(event: Event) -> None:
        target.info("%s", compact_json.dumps(event.as_dict()))

    return log_event
