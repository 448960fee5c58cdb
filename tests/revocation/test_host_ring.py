"""The machine's ring of revocations (:mod:`asgi_oauth.store.host_ring`): what one process writes, every other
process reading the same file hands on, in order, once; what a reader missed makes it forget everything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asgi_oauth.store.host_ring import _HEAD, _TAG, SLOTS, HostRing, ring_path


class Reader:
    """What a ring handed to a cache: each message, and how often everything was to be forgotten."""

    def __init__(self, ring: HostRing) -> None:
        self.ring = ring
        self.messages: list[bytes] = []
        self.everything = 0

    def forget_all(self) -> None:
        self.everything += 1

    def read(self) -> list[bytes]:
        before = len(self.messages)
        self.ring.catch_up(self.messages.append, self.forget_all)
        return self.messages[before:]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return ring_path("oauth:revoked", tmp_path)


def test_what_one_view_writes_another_reads_once_in_order(path: Path) -> None:
    writer, reader = HostRing(path), Reader(HostRing(path))
    assert reader.read() == []
    writer.announce([b"family:F1", b"access:F2:d"])
    writer.announce([b"client:c"])
    assert reader.read() == [b"family:F1", b"access:F2:d", b"client:c"]
    assert reader.read() == []
    assert reader.everything == 0


def test_a_view_opened_later_starts_at_the_present(path: Path) -> None:
    """A new worker's memory is empty: what was revoked before it started is nothing it must forget."""
    HostRing(path).announce([b"family:old"])
    late = Reader(HostRing(path))
    assert late.read() == []
    HostRing(path).announce([b"family:new"])
    assert late.read() == [b"family:new"]


def test_a_reader_more_than_the_ring_behind_forgets_everything(path: Path) -> None:
    writer, reader = HostRing(path), Reader(HostRing(path))
    writer.announce(f"family:{n}".encode() for n in range(SLOTS + 1))
    assert reader.read() == []
    assert reader.everything == 1
    writer.announce([b"family:after"])
    assert reader.read() == [b"family:after"]


def test_a_slot_being_written_while_it_is_read_makes_the_reader_forget_everything(path: Path) -> None:
    """A writer that wrapped round and is rewriting the slot a lagging reader copies marks it as being written
    first; the reader cannot tell what the slot said, so it forgets everything."""
    writer, reader = HostRing(path), Reader(HostRing(path))
    writer.announce([b"family:F"])
    _TAG.pack_into(writer._map, _HEAD.size, 2**64 - 1, 0)  # slot 0, as a writer leaves it mid-write
    assert reader.read() == []
    assert reader.everything == 1


def test_a_message_too_long_for_a_slot_is_told_as_forget_everything(path: Path) -> None:
    writer, reader = HostRing(path), Reader(HostRing(path))
    writer.announce([b"user:" + b"x" * 1000])
    assert reader.read() == [b"*"]  # an unknown kind: ValidationCache.announced flushes on it


def test_another_process_writes_and_this_one_reads(path: Path) -> None:
    reader = Reader(HostRing(path))
    code = (
        "import sys; from pathlib import Path; from asgi_oauth.store.host_ring import HostRing; "
        "HostRing(Path(sys.argv[1])).announce([b'family:from-elsewhere'])"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    assert reader.read() == [b"family:from-elsewhere"]


def test_the_file_is_private_and_a_file_of_someone_else_is_refused(path: Path, tmp_path: Path) -> None:
    HostRing(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError):
        HostRing(path)
    assert HostRing.open("oauth:revoked", tmp_path) is None  # said once as a warning, never raised
    link = ring_path("other", tmp_path)
    link.symlink_to(path)
    with pytest.raises(OSError):
        HostRing(link)
