"""Was the machine quiet? CPU used by work other than this run, measured beside every timed sample.

On a shared machine other jobs take CPU from the server under test and from the load generator. They slow
a cheap route (the constant-JSON ceiling) more than a dearer one and pull every ratio toward 1, so a ratio
measured while they ran says little. The load average cannot tell: the run itself keeps two processes busy.

So each reading takes, from ``/proc``, the CPU time of every CPU (``/proc/stat``: busy = user, nice, system,
irq, softirq and steal; idle and iowait are not busy) and the CPU time of this run's own process tree (this
process and every descendant, ``/proc/<pid>/stat`` utime + stime, plus cutime + cstime for children already
reaped: wrk, finished servers). Between two readings, busy minus ours is what other work used, in cores.
A sample in which other work used more than :data:`QUIET_LIMIT` cores is *disturbed*; a target whose samples
include a disturbed one is not judged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
#: Other work above this many cores during a sample disturbs it (a tenth of one core: on a 2-core machine
#: with the server on one core and wrk on the other, that much stolen time moves a ratio by several percent).
QUIET_LIMIT = 0.10

#: The unit of a process's CPU times in ``/proc/<pid>/stat``.
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

#: Columns of the ``cpu`` line of ``/proc/stat`` counted as busy (user, nice, system, irq, softirq, steal) and
#: as idle (idle, iowait), by position after the label; guest time is already inside user.
_BUSY = (0, 1, 2, 5, 6, 7)
_IDLE = (3, 4)


@dataclass(frozen=True, slots=True)
class Reading:
    """CPU counters at one moment, in clock ticks summed over every CPU."""

    at: float
    busy: int
    total: int
    #: Ticks used by this run's process tree since each process started.
    ours: int
    cpus: int
    loadavg: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Window:
    """What happened between two readings."""

    seconds: float
    #: CPU used by other work, in cores (1.0: one core busy all the time).
    other_cores: float
    #: CPU used by this run (servers, load generator, Redis, this process), in cores.
    ours_cores: float
    #: 1-minute load average at the end (counts this run's own busy processes too).
    loadavg1: float

    def disturbed(self, limit: float = QUIET_LIMIT) -> bool:
        return self.other_cores > limit

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def parse_proc_stat(text: str) -> tuple[int, int, int]:
    """``(busy, total, cpus)`` ticks from the text of ``/proc/stat``."""
    busy = total = cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            busy = sum(values[i] for i in _BUSY if i < len(values))
            total = busy + sum(values[i] for i in _IDLE if i < len(values))
        elif line.startswith("cpu"):
            cpus += 1
    return busy, total, cpus


def parse_pid_stat(text: str) -> tuple[int, int, int]:
    """``(ppid, own ticks, reaped children's ticks)`` from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses, so fields are counted after its last ``)``."""
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
    return ppid, utime + stime, cutime + cstime


def tree_ticks(stats: Mapping[int, tuple[int, int, int]], root: int) -> int:
    """Ticks used by ``root`` and its descendants, with the children each of them has reaped."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            _, own, reaped = stats[pid]
            total += own + reaped
        todo.extend(children.get(pid, ()))
    return total


def _pid_stats() -> dict[int, tuple[int, int, int]]:
    stats = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = parse_pid_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return stats


def read(root: int | None = None) -> Reading:
    busy, total, cpus = parse_proc_stat((PROC / "stat").read_text())
    load = tuple(float(x) for x in (PROC / "loadavg").read_text().split()[:3])
    ours = tree_ticks(_pid_stats(), os.getpid() if root is None else root)
    return Reading(time.monotonic(), busy, total, ours, cpus, (load[0], load[1], load[2]))


def cores(ticks: int, a: Reading, b: Reading) -> float:
    """``ticks`` of CPU time used between readings ``a`` and ``b``, in cores (1.0: one core busy throughout)."""
    return ticks / (max(1, b.total - a.total) / max(1, b.cpus))


def window(a: Reading, b: Reading) -> Window:
    """The window between readings ``a`` and ``b``."""
    ours = max(0, b.ours - a.ours)
    other = max(0, (b.busy - a.busy) - ours)
    return Window(
        seconds=b.at - a.at, other_cores=cores(other, a, b), ours_cores=cores(ours, a, b), loadavg1=b.loadavg[0]
    )


def measure(seconds: float) -> Window:
    """A window of ``seconds`` with nothing of ours running on purpose (before or after the run)."""
    first = read()
    time.sleep(seconds)
    return window(first, read())


def available() -> bool:
    return (PROC / "stat").is_file() and (PROC / str(os.getpid()) / "stat").is_file()


@contextmanager
def beside(sample: dict[str, Any], server: int | None = None) -> Iterator[None]:
    """Time a sample: once the block is over, ``sample["machine"]`` says what other work used of the machine
    meanwhile (:meth:`Window.as_dict`); nothing is added where ``/proc`` cannot be read.

    With ``server`` (a pid), ``sample["server_cores"]`` is what its process tree used meanwhile, in cores of
    wall-clock time: a pinned one-worker server below 1.0 sat idle for part of the sample, waiting for Redis or
    for the load. (Against wall-clock time: against the CPUs' own tick totals a server pinned to one CPU read up
    to 1.06 cores on a VM.)"""
    before = read() if available() else None
    served = tree_ticks(_pid_stats(), server) if before is not None and server is not None else None
    yield
    if before is not None:
        after = read()
        sample["machine"] = window(before, after).as_dict()
        if served is not None and server is not None:
            used = (tree_ticks(_pid_stats(), server) - served) / _TICKS_PER_SECOND
            sample["server_cores"] = round(used / max(after.at - before.at, 1e-9), 3)


def disturbed(sample: Mapping[str, Any], limit: float = QUIET_LIMIT) -> bool:
    """Whether other work used more than ``limit`` cores during a sample (or nothing says it did not)."""
    seen = sample.get("machine")
    return seen is None or float(seen["other_cores"]) > limit


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether samples were taken on a quiet machine, and if not, the words that say so."""

    quiet: bool
    reason: str = ""


def verdict(windows: Iterable[Mapping[str, Any]], limit: float = QUIET_LIMIT) -> Verdict:
    """Quiet only if no window (as stored: :meth:`Window.as_dict`) had other work above ``limit`` cores."""
    seen = list(windows)
    if not seen:
        return Verdict(False, "no machine-load readings")
    bad = [w for w in seen if float(w["other_cores"]) > limit]
    if not bad:
        return Verdict(True)
    worst = max(float(w["other_cores"]) for w in bad)
    loads = [float(w["loadavg1"]) for w in seen]
    return Verdict(
        False,
        f"other work used up to {worst:.2f} cores during {len(bad)} of {len(seen)} samples "
        f"(limit {limit:.2f}; load average {min(loads):.1f} to {max(loads):.1f})",
    )
