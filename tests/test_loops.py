"""``RunningLoop.current()`` answers what ``asyncio.get_running_loop() is loop`` answers (without the system call
that Python 3.11 makes there), on asyncio's loop and uvloop's, across loops and threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
import uvloop

from asgi_oauth.loops import RunningLoop

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(kind: str, check: Callable[[], object]) -> object:
    with asyncio.Runner(loop_factory=LOOPS[kind]) as runner:

        async def inside() -> object:
            return check()

        return runner.run(inside())


@pytest.mark.parametrize("kind", LOOPS)
def test_the_loop_noted_inside_is_current_there(kind: str) -> None:
    def check() -> tuple[bool, bool]:
        here = RunningLoop.here()
        assert here is not None
        return here.loop is asyncio.get_running_loop(), here.current()

    assert run(kind, check) == (True, True)


def test_outside_a_running_loop_there_is_none() -> None:
    assert RunningLoop.here() is None


@pytest.mark.parametrize("kind", LOOPS)
def test_a_loop_that_stopped_is_not_current_in_the_next_one(kind: str) -> None:
    noted = run(kind, RunningLoop.here)
    assert isinstance(noted, RunningLoop)
    assert not noted.current()
    assert run(kind, noted.current) is False


@pytest.mark.parametrize("kind", LOOPS)
def test_another_threads_running_loop_is_not_current_here(kind: str) -> None:
    noted: list[RunningLoop | None] = []
    ready, finish = threading.Event(), threading.Event()

    async def elsewhere() -> None:
        noted.append(RunningLoop.here())
        ready.set()
        await asyncio.to_thread(finish.wait, 10)  # running, until the main thread has looked

    def serve() -> None:
        with asyncio.Runner(loop_factory=LOOPS[kind]) as runner:
            runner.run(elsewhere())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert ready.wait(10)
        other = noted[0]
        assert other is not None and other.loop.is_running()
        assert run(kind, other.current) is False  # this thread's own loop is running, not that one
        assert not other.current()  # and outside any loop
    finally:
        finish.set()
        thread.join(10)
