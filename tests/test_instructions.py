"""``python -m benchmarks.instructions`` for real, on few requests: the counts are the worker's, per request, and
repeat (the reason the tool exists: throughput on a shared machine does not)."""

from __future__ import annotations

import secrets

import pytest

from benchmarks import instructions
from benchmarks.apps.common import BenchConfig
from benchmarks.processes import ProcessError, RedisServer


def test_totals_are_read_from_the_totals_line_not_the_empty_summary() -> None:
    # With instrumentation switched on after start-up, callgrind's summary line reads 0.
    assert instructions._totals("events: Ir\nsummary: 0\nfn=(1) main\n5 10\ntotals: 123456\n") == 123456
    assert instructions._totals("events: Ir\nsummary: 42\n") == 42
    with pytest.raises(ProcessError, match="no totals"):
        instructions._totals("events: Ir\n")


def test_the_table_shares_the_constant_routes_count() -> None:
    rows = instructions.table({instructions.CONSTANT: 200_000.0, "protected": 250_000.0})
    assert rows[2] == "| constant JSON | 200,000 | 1.00 |"
    assert rows[3] == "| protected | 250,000 | 0.80 |"


def test_counts_are_per_request_and_repeat() -> None:
    redis = RedisServer().start()
    try:
        config = BenchConfig(redis_url=redis.url, client_id="bench-client", client_secret=secrets.token_urlsafe(32))
        constant = instructions.count(instructions.CEILING, "json", config, requests=64, warm=32)
        again = instructions.count(instructions.CEILING, "json", config, requests=128, warm=32)
        protected = instructions.count(instructions.OURS, "protected", config, requests=64, warm=32)
    finally:
        redis.stop()
    # A request costs tens of thousands of instructions in CPython: not an empty count, not a whole start-up.
    assert 20_000 < constant < 2_000_000
    assert again == pytest.approx(constant, rel=0.05)  # twice the requests, the same count per request
    assert protected > constant  # the middleware's work on top of a route like the constant one


def test_the_command_refuses_counts_that_do_not_share_out_evenly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        instructions.main(["--requests", "100"])
    assert "multiples of 32" in capsys.readouterr().err
