"""Run settings, with their presets: the default run (the ratios table: the constant-JSON ceiling, our server with
its defaults on Redis, Authlib and node-oidc-provider, 3 interleaved rounds of 10 s), ``--quick`` (the same in
about a minute, for smoke checks; never judges a target) and ``--all`` (every app and scenario, shorter samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: What the ratios table compares (apps and scenarios), unless ``--all`` or ``--apps`` says otherwise.
HEADLINE_APPS = ("ceiling", "ours-redis-cache", "authlib", "node-oidc-provider")
HEADLINE_SCENARIOS = ("protected", "introspect", "cc_token")
#: A target is judged only from samples at least this long, over at least this many interleaved rounds.
JUDGED_DURATION = 10.0
JUDGED_ROUNDS = 3


@dataclass(slots=True)
class Options:
    quick: bool = False
    #: Every app and scenario (the broad comparison), not only the ratios table's.
    all: bool = False
    #: Interleaved rounds (A B C ... A B C ...); each figure is the median over rounds.
    rounds: int = JUDGED_ROUNDS
    #: Seconds of load per HTTP sample.
    duration: float = JUDGED_DURATION
    #: Sequential requests per in-process sample.
    inproc_requests: int = 1000
    connections: int = 32
    #: "auto" (wrk when on PATH), "wrk" or "python".
    loadgen: str = "auto"
    apps: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    inproc: bool = True
    http: bool = True
    #: The broad run's scale checks (used_memory per app, 1k against 1M live tokens).
    scale: bool = False
    #: Redis MEMORY USAGE per live token, for one client and for many (:mod:`benchmarks.memory`).
    memory: bool = True
    #: The same routes with 2 uvicorn workers, to show how throughput grows from 1 to 2.
    scaling: bool = True
    #: Pin each server to ``server_cpus`` and wrk and Redis to ``load_cpus`` (taskset).
    pin: bool = True
    server_cpus: str = "0"
    load_cpus: str = "1"
    #: Before each round, wait up to this many seconds for other work to fall under the quiet limit.
    wait_quiet: float = 30.0
    #: Write cProfile output of our app's in-process loop per scenario.
    profile: bool = False
    #: Access tokens created for the memory checks (and refresh families for theirs).
    memory_tokens: int = 100_000
    #: Clients the many-clients memory check spreads ``memory_tokens`` over.
    memory_clients: int = 1_000
    small_tokens: int = 1_000
    big_tokens: int = 1_000_000
    scale_rounds: int = 3
    scale_requests: int = 3000
    #: Upper bound on single-use credentials seeded for one HTTP sample.
    max_seed: int = 60_000
    output: Path = RESULTS_DIR
    #: The command line that asked for this run, as the report quotes it.
    command: str = "python -m benchmarks"

    @classmethod
    def quick_preset(cls) -> Options:
        return cls(
            quick=True,
            rounds=2,
            duration=1.0,
            inproc_requests=300,
            wait_quiet=0.0,
            memory_tokens=10_000,
            memory_clients=100,
            big_tokens=100_000,
            scale_rounds=3,
            scale_requests=1000,
        )

    @classmethod
    def all_preset(cls) -> Options:
        """Every app and scenario: 29 HTTP targets, so shorter samples (a ratio from them is not judged)."""
        return cls(all=True, rounds=5, duration=2.0, scale=True)

    @property
    def judgeable(self) -> str | None:
        """Why this run's settings cannot judge a target, or None."""
        if self.quick:
            return "quick run"
        if self.rounds < JUDGED_ROUNDS or self.duration < JUDGED_DURATION:
            return (
                f"{self.rounds} rounds of {self.duration:g} s; a verdict needs at least {JUDGED_ROUNDS} rounds of "
                f"{JUDGED_DURATION:g} s"
            )
        return None
