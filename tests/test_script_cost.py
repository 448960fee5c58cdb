"""``python -m benchmarks.script_cost`` for real on a small index: it counts every call it makes, and counting
instructions is repeatable where timing is not (the reason the tool exists)."""

from __future__ import annotations

import pytest

from benchmarks import script_cost


def test_instructions_per_issuing_script_are_counted_and_repeatable() -> None:
    first, counted = script_cost.measure(tokens=300, calls=64)
    second, _ = script_cost.measure(tokens=300, calls=64)
    assert counted == 64
    assert 10_000 < first < 1_000_000  # a script of a few commands, not an empty count or a whole server's start
    assert second == pytest.approx(first, rel=0.03)


def test_the_command_prints_the_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert script_cost.main(["--tokens", "100", "--calls", "32"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("put_access: ") and "instructions per EVALSHA in Redis (32 calls, 100 before)" in out
