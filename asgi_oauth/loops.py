"""Whether an event loop is the one running in this thread, told without a system call.

On Python 3.11 ``asyncio.get_running_loop()`` calls ``getpid()`` each time (a fork check that 3.12 dropped): a
system call on every protected request answered from memory and on every Redis command. A thread runs one loop
at a time, so a loop noted together with the thread it was running in is still the running one whenever that
thread asks and the loop is running. (It assumes what asyncio objects already need: a store, its cache and its
connections are used from one thread at a time, and a loop is not moved to another thread meanwhile.)
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

_thread = threading.get_ident


@dataclass(frozen=True, slots=True)
class RunningLoop:
    """A loop and the thread it was running in when noted."""

    loop: asyncio.AbstractEventLoop
    thread: int

    @classmethod
    def here(cls) -> RunningLoop | None:
        """The loop running in this thread (``None`` outside one)."""
        loop = asyncio._get_running_loop()
        return None if loop is None else cls(loop, _thread())

    def current(self) -> bool:
        """What ``asyncio.get_running_loop() is self.loop`` answers, without its ``getpid()``."""
        return self.thread == _thread() and self.loop.is_running()
