"""A short soak in the suite: 10 s of mixed traffic on 2 workers and Redis; ``nox -s soak`` runs 60 s.

Zero 5xx, every answer as the token model predicts, zero lost tokens, worker memory flat.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .soak import MIB, drive, soak_stack

pytestmark = pytest.mark.slow

DURATION = 10.0
#: Enough traffic to mean something; a loaded machine runs past DURATION (bounded) to get there.
MIN_REQUESTS = 500


async def test_short_soak(tmp_path: Path) -> None:
    with soak_stack(tmp_path, workers=2) as (server, redis_process, password):
        result = await drive(
            server, password, redis_process.url, duration=DURATION, concurrency=12, min_requests=MIN_REQUESTS
        )
        stderr = server.stderr

    print(result.summary())
    assert result.requests >= MIN_REQUESTS, "the load generator hardly ran"
    assert result.checked_active == result.expected_active  # a short run audits every token
    assert result.problems(rss_limit=50 * MIB) == []
    assert "Traceback" not in stderr
