"""Revocations told to every worker of this machine before the revoking worker answers.

The revocation channel reaches a worker through Redis, and Redis may answer the revoking command before it
has written the announcement to every subscriber (it writes the caller's reply first, and a loaded machine may
pause it in between). A client that hears "revoked" and at once asks another worker of the same machine could
then be answered from that worker's memory. This ring closes that gap without relying on timing: the revoking
worker writes its announcements into a small file in shared memory (``/dev/shm``) after Redis committed them
and before it answers, and every worker reads what is new there before it answers from memory (one 8-byte read
when nothing is). Workers that do not share the file (other machines or containers) still learn through the
channel, within the cache's lease.

Layout: an 8-byte count of announcements ever written, then ``SLOTS`` slots of ``SLOT`` bytes, each an 8-byte
sequence number, a 2-byte length and the message. Writers serialise on ``flock``; readers take no lock and
check each slot's sequence number before and after copying it, so a slot overwritten under them (a reader more
than ``SLOTS`` announcements behind) is noticed and answered by forgetting everything, which is always safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import stat
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

logger = logging.getLogger("asgi_oauth")

SLOTS = 1024
SLOT = 256
_HEAD = struct.Struct("<Q")
_TAG = struct.Struct("<QH")
_SIZE = _HEAD.size + SLOTS * SLOT
_MESSAGE = SLOT - _TAG.size
#: Announced in place of a message too long for a slot: an unknown kind, which makes every reader forget all.
_EVERYTHING = b"*"


def _directory() -> Path:
    # World-writable, like /tmp: the file is opened without following links and refused unless it is this
    # user's own regular file, readable by no one else (HostRing.__init__).
    shm = Path("/dev/shm")  # noqa: S108
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def ring_path(channel: str, directory: Path | None = None) -> Path:
    """The file of the workers of this machine that announce on ``channel``, private to this user."""
    digest = hashlib.sha256(channel.encode()).hexdigest()[:24]
    return (directory or _directory()) / f"asgi_oauth-{os.getuid()}-{digest}.ring"


class HostRing:
    """One process's view of the machine's ring for a revocation channel."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
                raise PermissionError(f"{path} is not a private file of this user")
            if os.fstat(fd).st_size < _SIZE:
                with _locked(fd):
                    if os.fstat(fd).st_size < _SIZE:
                        os.ftruncate(fd, _SIZE)  # zero-filled: no announcement yet
            self._map = mmap.mmap(fd, _SIZE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        #: How many announcements this process has read (it starts at the present: its memory is empty).
        self.seen = self.written()

    @classmethod
    def open(cls, channel: str, directory: Path | None = None) -> HostRing | None:
        """The ring for ``channel``, or ``None`` (with a warning) where no file can be shared."""
        path = ring_path(channel, directory)
        try:
            return cls(path)
        except OSError as exc:
            logger.warning(
                "asgi_oauth: cannot share revocations with this machine's other workers through %s (%s); each "
                "worker still forgets what it revoked itself, the others learn through Redis's channel",
                path,
                exc,
            )
            return None

    def written(self) -> int:
        count: int = _HEAD.unpack_from(self._map, 0)[0]
        return count

    def announce(self, messages: Iterable[bytes]) -> None:
        """Append ``messages`` (each announced on the channel already) for every worker of this machine."""
        with _locked(self._fd):
            count = self.written()
            for message in messages:
                if len(message) > _MESSAGE:
                    message = _EVERYTHING
                at = _HEAD.size + (count % SLOTS) * SLOT
                _TAG.pack_into(self._map, at, 2**64 - 1, 0)  # being written: a reader copying it now discards it
                self._map[at + _TAG.size : at + _TAG.size + len(message)] = message
                _TAG.pack_into(self._map, at, count, len(message))
                count += 1
            _HEAD.pack_into(self._map, 0, count)

    def catch_up(self, forget: Callable[[bytes], None], forget_all: Callable[[], None]) -> None:
        """Hand each announcement written since the last call to ``forget``; ``forget_all`` when some were lost."""
        count = self.written()
        if count == self.seen:
            return
        start, self.seen = self.seen, count
        if count - start > SLOTS:
            forget_all()
            return
        view = self._map
        for number in range(start, count):
            at = _HEAD.size + (number % SLOTS) * SLOT
            tag, length = _TAG.unpack_from(view, at)
            message = view[at + _TAG.size : at + _TAG.size + length]
            if tag != number or _TAG.unpack_from(view, at)[0] != number:
                forget_all()  # overwritten while this process was behind: whatever it said is lost
                return
            forget(message)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
