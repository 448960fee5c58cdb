"""The garbage collector tuned for a server that allocates many short-lived objects per request.

CPython's default collector starts a young collection every 700 net allocations of tracked objects and, every tenth
of those, a collection of the middle generation; every full collection walks every object the process holds. A token
request allocates some hundreds of container objects, so under 32 concurrent requests the defaults ran several full
collections a second over the ~60,000 objects of a started server (the Starlette and pydantic machinery, the store's
scripts), about 16 ms each: with them the token endpoint's p99 was about 16 ms against about 3 ms tuned
(benchmarks/PROFILE.md, "Issuance: the collector and the per-request objects"). Freezing what exists after start-up
moves those objects out of every later collection, and a larger young threshold makes collections rarer without
keeping garbage longer: request objects die by reference counting, the collector only reclaims cycles.
"""

from __future__ import annotations

import gc

#: Net allocations of tracked objects between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000

_tuned = False


def tune_gc() -> bool:
    """Collect once, freeze the survivors and raise the young threshold; ``True`` when this call changed anything.

    Once per process: a second server in the same process (tests, several mounted apps) leaves it alone. A host
    that set a higher threshold, or switched automatic collection off (threshold 0 or ``gc.disable()``), keeps
    its choice.
    """
    global _tuned
    if _tuned:
        return False
    _tuned = True
    young, middle, old = gc.get_threshold()
    if not gc.isenabled() or young == 0 or young >= YOUNG_THRESHOLD:
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return True
