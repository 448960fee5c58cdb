"""What only the memory store needs: its expired entries leave memory without a scan of everything."""

from __future__ import annotations

from asgi_oauth.store.memory import Expiring


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_expired_entries_are_dropped_by_later_writes() -> None:
    clock = Clock()
    entries: Expiring[str, int] = Expiring(clock)
    for i in range(10_000):
        entries.set(f"short{i}", i, clock.now + 60)
    entries.set("long", 1, clock.now + 3600)
    assert len(entries) == 10_001

    clock.now += 61
    entries.set("new", 2, clock.now + 60)

    assert len(entries) == 2  # the 10,000 expired ones are gone, not merely hidden
    assert entries.get("short0") is None
    assert entries.get("long") == 1
    assert entries.get("new") == 2


def test_overwriting_one_key_keeps_memory_bounded() -> None:
    clock = Clock()
    entries: Expiring[str, int] = Expiring(clock)
    for i in range(50_000):  # a family record rewritten by every rotation, with a long lifetime
        entries.set("family", i, clock.now + 14 * 86400)
    assert entries.get("family") == 49_999
    assert len(entries._queue) <= 2 * len(entries) + 1024


def test_an_entry_written_already_expired_is_never_returned() -> None:
    clock = Clock()
    entries: Expiring[str, int] = Expiring(clock)
    entries.set("late", 1, clock.now - 1)
    assert entries.get("late") is None
    assert len(entries) == 0
