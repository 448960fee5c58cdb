"""The ratios table: our server with its defaults on Redis as a share of the stack's limit, beside the peers.

The limit is a bare Starlette app, one ``Route`` answering a constant ``JSONResponse``, no middleware, under the
same uvicorn. Every figure is an HTTP median over interleaved rounds. A target is judged only from a run that
could judge it: samples of at least 10 s over at least 3 rounds, the server pinned to one CPU and wrk to the
other, and a quiet machine during every sample the target's figures come from; otherwise it says why not.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import machine, memory

OURS = "ours-redis-cache"
CEILING = "ceiling/json"
#: Rows in the order of the table, after the limit's: (label, our scenario).
ROWS = (
    ("protected route, validation from memory (defaults with Redis)", "protected"),
    ("introspection", "introspect"),
    ("client_credentials issuance", "cc_token"),
)
PEER_COLUMNS = (("authlib", "x Authlib"), ("node-oidc-provider", "x node-oidc-provider (Node 22, same Redis)"))


@dataclass(frozen=True, slots=True)
class Figures:
    """HTTP medians of one target."""

    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    samples: int


def figures(samples: Iterable[Mapping[str, Any]]) -> Figures | None:
    runs = list(samples)
    if not runs:
        return None
    rates = [float(r["rps"]) for r in runs]
    return Figures(
        rps=statistics.median(rates),
        rps_min=min(rates),
        rps_max=max(rates),
        p50_ms=statistics.median(float(r["p50_ms"]) for r in runs),
        p99_ms=statistics.median(float(r["p99_ms"]) for r in runs),
        samples=len(runs),
    )


def all_figures(http: Mapping[str, list[dict[str, Any]]]) -> dict[str, Figures]:
    return {key: f for key, runs in http.items() if (f := figures(runs)) is not None}


def _ratio(a: Figures | None, b: Figures | None) -> float | None:
    return a.rps / b.rps if a is not None and b is not None and b.rps else None


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def table(figs: Mapping[str, Figures]) -> list[str]:
    """The table in exactly the shape of the ratios it tracks; empty when the ceiling was not measured."""
    ceiling = figs.get(CEILING)
    if ceiling is None:
        return []
    head = "| route | req/s | x constant JSON |" + "".join(f" {title} |" for _, title in PEER_COLUMNS)
    lines = [head, "|---|---:|---:|" + "---:|" * len(PEER_COLUMNS)]
    lines.append(f"| constant JSON (the limit) | {ceiling.rps:,.0f} | 1.00 |" + " |" * len(PEER_COLUMNS))
    for label, scenario in ROWS:
        ours = figs.get(f"{OURS}/{scenario}")
        if ours is None:
            continue
        peers = [_cell(_ratio(ours, figs.get(f"{peer}/{scenario}"))) for peer, _ in PEER_COLUMNS]
        cells = [label, f"{ours.rps:,.0f}", _cell(_ratio(ours, ceiling)), *peers]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def latency_table(
    figs: Mapping[str, Figures],
    http: Mapping[str, list[dict[str, Any]]],
    inproc: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """Every target of the table: req/s spread, p50/p99, in-process CPU per request (median), the server's CPU
    during its HTTP samples (median, in cores: below 1.0 a one-worker server sat idle part of the time), and
    how many of its HTTP samples other work disturbed."""
    keys = [CEILING] + [f"{app}/{s}" for _, s in ROWS for app in (OURS, *(p for p, _ in PEER_COLUMNS))]
    lines = [
        "| app / route | req/s (median) | min-max | p50 ms | p99 ms | p99 x constant JSON's | in-process CPU µs "
        "| server CPU, cores | disturbed samples |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ceiling = figs.get(CEILING)
    for key in keys:
        f = figs.get(key)
        if f is None:
            continue
        p99 = f"{f.p99_ms / ceiling.p99_ms:.2f}" if ceiling is not None and ceiling.p99_ms else ""
        bad = sum(1 for s in http.get(key, []) if machine.disturbed(s))
        cpu = (inproc or {}).get(key)
        cpu_cell = f"{statistics.median(float(x['cpu_us']) for x in cpu):.1f}" if cpu else ""
        served = [float(s["server_cores"]) for s in http.get(key, []) if "server_cores" in s]
        served_cell = f"{statistics.median(served):.2f}" if served else ""
        lines.append(
            f"| {key} | {f.rps:,.0f} | {f.rps_min:,.0f}-{f.rps_max:,.0f} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {p99} | "
            f"{cpu_cell} | {served_cell} | {bad} of {f.samples} |"
        )
    return lines


def scaling_table(figs: Mapping[str, Figures]) -> list[str]:
    rows = []
    for label, key in (("constant JSON", CEILING), *((label, f"{OURS}/{s}") for label, s in ROWS)):
        one, two = figs.get(key), figs.get(f"{key}@2w")
        if one is not None and two is not None:
            rows.append(f"| {label} | {one.rps:,.0f} | {two.rps:,.0f} | {two.rps / one.rps:.2f}x |")
    if not rows:
        return []
    return ["| route | 1 worker req/s | 2 workers req/s | growth |", "|---|---:|---:|---:|", *rows]


def why_not_judged(
    meta: Mapping[str, Any], http: Mapping[str, list[dict[str, Any]]], keys: Iterable[str]
) -> str | None:
    """Why a target built from ``keys``' HTTP samples cannot be judged in this run, or None if it can."""
    if meta.get("not_judged"):
        return str(meta["not_judged"])
    pins = meta.get("pinning", {})
    if pins.get("unpinned"):
        return f"servers not pinned: {pins['unpinned']}"
    if meta.get("loadgen") != "wrk":
        return f"load generator {meta.get('loadgen')}, not a pinned wrk"
    windows = [s["machine"] for key in keys for s in http.get(key, []) if "machine" in s]
    if not windows:
        return "no machine-load readings beside the samples"
    verdict = machine.verdict(windows)
    return None if verdict.quiet else f"machine loaded: {verdict.reason}"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    measured: str
    status: str  # "met", "NOT met", "not judged (...)", "n/a (...)"


def checks(results: Mapping[str, Any], figs: Mapping[str, Figures]) -> list[Check]:
    meta, http = results.get("meta", {}), results.get("http", {})
    ceiling = figs.get(CEILING)
    out: list[Check] = []

    def judged(name: str, measured: str, ok: bool, keys: list[str]) -> None:
        why = why_not_judged(meta, http, keys)
        status = ("met" if ok else "NOT met") if why is None else f"not judged ({why})"
        out.append(Check(name, measured, status))

    protected = figs.get(f"{OURS}/protected")
    for name, scenario, need in (
        ("protected route from memory ≥ 0.8x constant JSON", "protected", 0.8),
        ("introspection from memory ≥ 0.6x constant JSON", "introspect", 0.6),
        ("client_credentials issuance ≥ 0.5x constant JSON", "cc_token", 0.5),
    ):
        ours = figs.get(f"{OURS}/{scenario}")
        ratio = _ratio(ours, ceiling)
        if ratio is None:
            out.append(Check(name, "-", "n/a (not measured)"))
        else:
            judged(name, f"{ratio:.2f}x", ratio >= need, [CEILING, f"{OURS}/{scenario}"])
        if scenario == "protected":
            name = "protected route p99 ≤ 2x constant JSON's p99"
            if protected is None or ceiling is None or not ceiling.p99_ms:
                out.append(Check(name, "-", "n/a (not measured)"))
            else:
                times = protected.p99_ms / ceiling.p99_ms
                measured = f"{protected.p99_ms:.2f} ms against {ceiling.p99_ms:.2f} ms ({times:.2f}x)"
                judged(name, measured, times <= 2.0, [CEILING, f"{OURS}/protected"])
    mem = results.get("memory") or {}
    name = f"Redis memory per live token ≤ {memory.TARGET_BYTES} B (one client and {_clients(mem)} clients)"
    worst = memory.worst(mem)
    if worst is None:
        out.append(Check(name, "-", "n/a (not measured)"))
    else:
        # Memory does not depend on the machine's load; it is judged from the full-size layouts only.
        full = int(mem.get("tokens", 0)) >= 100_000
        status = (
            ("met" if worst[0] <= memory.TARGET_BYTES else "NOT met")
            if full
            else "not judged (fewer than 100,000 tokens)"
        )
        out.append(Check(name, f"{worst[0]:.0f} B (worst: {worst[1]})", status))
    return out


def _clients(mem: Mapping[str, Any]) -> str:
    many = [int(k) for k in mem.get("layouts", {}) if int(k) > 1]
    return f"{max(many):,}" if many else "many"


def machine_lines(results: Mapping[str, Any]) -> list[str]:
    """One paragraph on the machine's state: before, during (every sample) and after."""
    http = results.get("http", {})
    windows = [s["machine"] for runs in http.values() for s in runs if "machine" in s]
    state = results.get("machine", {})
    if not windows:
        return ["Machine load: not measured (no /proc here, or no HTTP samples).", ""]
    verdict = machine.verdict(windows)
    others = [float(w["other_cores"]) for w in windows]
    loads = [float(w["loadavg1"]) for w in windows]
    parts = [
        f"**Machine: {'quiet' if verdict.quiet else 'LOADED'}**",
        f"other work used {statistics.median(others):.2f} cores in the median sample, at most {max(others):.2f} "
        f"(a sample is disturbed above {machine.QUIET_LIMIT:.2f}); load average {min(loads):.1f} to "
        f"{max(loads):.1f} (it counts this run's own server and wrk)",
    ]
    for when in ("before", "after"):
        if (w := state.get(when)) is not None:
            parts.append(f"{when} the run: {float(w['other_cores']):.2f} cores of other work, load {w['loadavg1']}")
    waits = state.get("waits", [])
    if waits:
        total = sum(float(w["waited_s"]) for w in waits)
        still = sum(1 for w in waits if not w["quiet"])
        parts.append(
            f"waited {total:.0f} s in all for quiet before rounds ({still} of {len(waits)} rounds started loaded)"
        )
    return ["; ".join(parts) + ".", ""]


def check_lines(found: list[Check]) -> list[str]:
    lines = ["| target | measured | status |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.measured} | {c.status} |" for c in found]
    return [*lines, ""]


def section(results: Mapping[str, Any]) -> list[str]:
    """The report's first section; empty when the constant-JSON ceiling was not measured over HTTP."""
    http = results.get("http", {})
    figs = all_figures(http)
    rows = table(figs)
    if not rows:
        return []
    meta = results.get("meta", {})
    pins = meta.get("pinning", {})
    where = (
        f"unpinned ({pins.get('unpinned')})"
        if pins.get("unpinned")
        else f"server pinned to CPU {pins.get('server')}, {meta.get('loadgen')} and Redis to CPU {pins.get('load')}"
    )
    uv = meta.get("uvicorn", {})
    lines = [
        "## Ratios to the constant-JSON route",
        "",
        f"`{meta.get('command')}` on {meta.get('started')}: uvicorn 1 worker ({uv.get('loop')}/{uv.get('http')}), "
        f"{where}, `wrk -t1 -c{meta.get('connections')}`, {meta.get('rounds')} interleaved rounds of "
        f"{meta.get('duration_s')} s, medians; the limit is a bare Starlette app, one `Route` returning a "
        "constant `JSONResponse`, no middleware.",
        "",
        *machine_lines(results),
        *rows,
        "",
        "Latency and spread (HTTP, medians over rounds):",
        "",
        *latency_table(figs, http, results.get("inproc")),
        "",
    ]
    scaling = scaling_table(figs)
    if scaling:
        lines += [
            "From 1 to 2 uvicorn workers (2 workers on both CPUs; wrk still on the second, so on a 2-core machine "
            "the second worker shares its CPU with the load generator):",
            "",
            *scaling,
            "",
        ]
    lines += memory.lines(results.get("memory") or {})
    lines += ["### Targets", "", *check_lines(checks(results, figs))]
    return lines


def chart(results: Mapping[str, Any], path: Path) -> bool:
    """A bar chart of the table: req/s per route for ours and each peer, the limit and the targets drawn in."""
    figs = all_figures(results.get("http", {}))
    ceiling = figs.get(CEILING)
    if ceiling is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        (OURS, "asgi_oauth (defaults with Redis)"),
        ("authlib", "Authlib"),
        ("node-oidc-provider", "node-oidc-provider"),
    ]
    needs = {"protected": 0.8, "introspect": 0.6, "cc_token": 0.5}
    labels = [label.split(",")[0] for label, _ in ROWS]
    fig, ax = plt.subplots(figsize=(10, 5.2))
    width = 0.8 / len(series)
    for i, (app, label) in enumerate(series):
        xs, heights = [], []
        for row, (_, scenario) in enumerate(ROWS):
            f = figs.get(f"{app}/{scenario}")
            if f is not None:
                xs.append(row + (i - (len(series) - 1) / 2) * width)
                heights.append(f.rps)
        bars = ax.bar(xs, heights, width, label=label)
        for bar, height in zip(bars, heights, strict=True):
            ax.annotate(
                f"{height / ceiling.rps:.2f}x",
                (bar.get_x() + bar.get_width() / 2, height),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.axhline(ceiling.rps, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"constant JSON: {ceiling.rps:,.0f} req/s (1.00x)", (-0.45, ceiling.rps), va="bottom", fontsize=8)
    for row, (_, scenario) in enumerate(ROWS):
        need = needs[scenario] * ceiling.rps
        ax.hlines(need, row - 0.45, row + 0.45, colors="red", linestyles=":", linewidth=1.2)
        ax.annotate(f"target {needs[scenario]}x", (row + 0.45, need), ha="right", va="bottom", fontsize=7, color="red")
    meta = results.get("meta", {})
    windows = [s["machine"] for runs in results.get("http", {}).values() for s in runs if "machine" in s]
    state = "machine quiet" if windows and machine.verdict(windows).quiet else "machine LOADED: targets not judged"
    ax.set_xticks(range(len(ROWS)), labels)
    ax.set_ylabel("req/s (HTTP median, 1 worker)")
    ax.set_ylim(0, ceiling.rps * 1.3)
    ax.set_title(f"{meta.get('command')} · {str(meta.get('started', ''))[:16]} · {state}", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", ncol=len(series))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
