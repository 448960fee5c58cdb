"""Run settings, with the two presets: ``--quick`` (under 2 minutes) and full (under 10 minutes on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(slots=True)
class Options:
    quick: bool = False
    #: Interleaved rounds (A B C ... A B C ...); each figure is the median over rounds.
    rounds: int = 5
    #: Seconds of load per HTTP sample.
    duration: float = 2.0
    #: Sequential requests per in-process sample.
    inproc_requests: int = 1000
    connections: int = 32
    #: "auto" (wrk when on PATH), "wrk" or "python".
    loadgen: str = "auto"
    apps: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    inproc: bool = True
    http: bool = True
    scale: bool = True
    #: Write cProfile output of our app's in-process loop per scenario.
    profile: bool = False
    #: Access tokens created for the memory-per-token check (and refresh families for theirs).
    memory_tokens: int = 100_000
    small_tokens: int = 1_000
    big_tokens: int = 1_000_000
    scale_rounds: int = 3
    scale_requests: int = 3000
    #: Upper bound on single-use credentials seeded for one HTTP sample.
    max_seed: int = 60_000
    output: Path = RESULTS_DIR

    @classmethod
    def quick_preset(cls) -> Options:
        return cls(
            quick=True,
            rounds=2,
            duration=1.0,
            inproc_requests=300,
            memory_tokens=10_000,
            big_tokens=100_000,
            scale_rounds=3,
            scale_requests=1000,
        )
