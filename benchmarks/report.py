"""Turning raw samples into the report: medians per target, the tables, the targets, JSON and chart.

Ratios use the HTTP medians (what a deployment sees) and fall back to in-process CPU cost (as throughput,
1e6 / CPU µs) when the HTTP variant was not run or the target was refused over HTTP.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import headline, machine
from .apps import APPS, CEILING_OF, OAUTH_SCENARIOS, PEERS, SCENARIO_TITLES, app_by_name
from .runner import Results

NOTES = [
    "### How to read this",
    "",
    "- Ceilings: bare Starlette doing one Redis `SET EX` (what issuing a token must at least cost), one `GET` "
    "(validating one), and nothing (the framework alone), on redis-py's client as the peers use it. Each OAuth "
    "scenario is shown as a share of its ceiling. Our Redis store does not use redis-py's per-command path: it "
    "pipelines concurrent commands on one connection, which is why it can exceed these ceilings under concurrent "
    "load; the reference rows run the ceiling routes on that same connection.",
    "- Code exchange and refresh rotation may take two Redis round trips (the target allows ≤ 2), so about half "
    "the SET ceiling is their natural bound.",
    "- In-process: the ASGI app called directly, one request after another, no sockets; CPU µs per request is "
    "`time.process_time` of this process only (Redis runs in its own process).",
    "- HTTP: each app under uvicorn (1 worker), all apps alike; figures are medians of interleaved rounds.",
    "- Every app is verified before it is timed: issued tokens introspect active and open the protected route, "
    "junk tokens do not, codes and refresh tokens work once and fail on replay.",
    "- Authlib's server core is synchronous: its adapter prefetches the one record a request names (one `MGET`), "
    "runs Authlib, then writes in one pipeline. aioauth mints a refresh token on every grant and stores both "
    "tokens (one pipeline); it has no resource-server component, so it has no protected-route figure.",
    "",
]


@dataclass(slots=True)
class Summary:
    cpu_us: float | None = None
    wall_us: float | None = None
    rps: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx: int = 0
    socket_errors: int = 0
    exhausted: bool = False

    @property
    def throughput(self) -> tuple[float, str] | None:
        """Requests/s for ratios, and its basis."""
        if self.rps:
            return self.rps, "http"
        if self.cpu_us:
            return 1e6 / self.cpu_us, "cpu"
        return None


def summarise(results: Results) -> dict[str, Summary]:
    out: dict[str, Summary] = {}
    for key in set(results.inproc) | set(results.http):
        s = Summary()
        if samples := results.inproc.get(key):
            s.cpu_us = statistics.median(x["cpu_us"] for x in samples)
            s.wall_us = statistics.median(x["wall_us"] for x in samples)
        if runs := results.http.get(key):
            rates = [r["rps"] for r in runs]
            s.rps, s.rps_min, s.rps_max = statistics.median(rates), min(rates), max(rates)
            s.p50_ms = statistics.median(r["p50_ms"] for r in runs)
            s.p99_ms = statistics.median(r["p99_ms"] for r in runs)
            s.non_2xx = sum(int(r["non_2xx"]) for r in runs)
            s.socket_errors = sum(int(r["socket_errors"]) for r in runs)
            s.exhausted = any(r["exhausted"] for r in runs)
        out[key] = s
    return out


def _ratio(a: Summary | None, b: Summary | None) -> tuple[float, str] | None:
    """a / b on the best common basis (HTTP if both have it, else CPU)."""
    if a is None or b is None:
        return None
    if a.rps and b.rps:
        return a.rps / b.rps, "http"
    if a.cpu_us and b.cpu_us:
        return b.cpu_us / a.cpu_us, "cpu"
    return None


def _fmt_ratio(r: tuple[float, str] | None) -> str:
    if r is None:
        return "-"
    return f"{r[0]:.2f}" if r[1] == "http" else f"{r[0]:.2f} (cpu)"


def _n(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def _row(label: str, s: Summary, ratios: list[str]) -> str:
    rng = "-" if s.rps_min is None else f"{s.rps_min:,.0f}-{s.rps_max:,.0f}"
    bad = "-" if s.rps is None else f"{s.non_2xx + s.socket_errors}{' (ran out of seeds)' if s.exhausted else ''}"
    cells = [label, _n(s.cpu_us, ",.1f"), _n(s.rps), rng, _n(s.p50_ms, ".2f"), _n(s.p99_ms, ".2f"), bad, *ratios]
    return "| " + " | ".join(cells) + " |"


def scenario_tables(results: Results, summary: dict[str, Summary]) -> list[str]:
    lines: list[str] = []
    measured = {key.split("/")[0] for key in summary}
    peers = [app_by_name(p) for p in PEERS if p in measured]
    head = "| app | in-proc CPU µs/req | HTTP req/s (median) | min-max | p50 ms | p99 ms | non-2xx | x ceiling |"
    head += "".join(f" x {p.label} |" for p in peers)
    rule = "|---" + "|---:" * (7 + len(peers)) + "|"
    for scenario in OAUTH_SCENARIOS:
        ceiling_key = f"ceiling/{CEILING_OF[scenario]}"
        rows = [s for s in APPS if s.kind != "ceiling" and f"{s.name}/{scenario}" in summary]
        notes = [
            f"- {key.split('/')[0]}: {why}"
            for key, why in {**results.skipped, **results.refused}.items()
            if key.endswith((f"/{scenario}", "/*"))
        ]
        if not rows and not notes:
            continue  # not asked for in this run
        lines += [f"### {SCENARIO_TITLES[scenario]}", ""]
        ceiling = summary.get(ceiling_key)
        if not rows:
            lines += ["No app was timed in this scenario.", ""]
        else:
            lines += [head, rule]
            if ceiling is not None:
                peer_cells = [_fmt_ratio(_ratio(ceiling, summary.get(f"{p.name}/{scenario}"))) for p in peers]
                lines.append(_row(f"*{SCENARIO_TITLES[CEILING_OF[scenario]]}*", ceiling, ["1.00", *peer_cells]))
            for spec in rows:
                s = summary[f"{spec.name}/{scenario}"]
                cells = [_fmt_ratio(_ratio(s, ceiling))]
                cells += [_fmt_ratio(_ratio(s, summary.get(f"{p.name}/{scenario}"))) for p in peers]
                lines.append(_row(spec.label, s, cells))
            lines.append("")
        if notes:
            lines += ["Not timed here:", *notes, ""]
    lines += [
        "### ceilings",
        "",
        "| route | in-proc CPU µs/req | HTTP req/s (median) | min-max | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in ("set", "get", "json"):
        if (route := summary.get(f"ceiling/{scenario}")) is not None:
            lines.append(_row(SCENARIO_TITLES[scenario], route, []))
    for scenario in ("set", "get"):
        if (route := summary.get(f"ceiling-pipelined/{scenario}")) is not None:
            label = SCENARIO_TITLES[scenario].replace("1 Redis", "1 Redis (pipelined connection)")
            lines.append(_row(f"reference: {label}", route, []))
    lines += [
        "",
        'Ratios are of HTTP medians; "(cpu)" marks a ratio of in-process CPU cost where HTTP figures are missing.',
        "",
    ]
    return lines


def scale_tables(results: Results) -> list[str]:
    scale = results.scale
    if not scale:
        return []
    lines = [
        "### Redis memory per live token",
        "",
        "| app | tokens | bytes per token | keys per token |",
        "|---|---:|---:|---:|",
    ]
    for name, m in scale.get("memory", {}).items():
        if name == "ours-redis-family":
            continue
        if "error" in m:
            lines.append(f"| {name} | - | {m['error']} | - |")
        else:
            lines.append(f"| {name} | {m['tokens']:,} | {m['bytes_per_token']:.0f} | {m['keys_per_token']:.2f} |")
    fam = scale.get("memory", {}).get("ours-redis-family")
    if fam and "error" not in fam:
        lines.append(
            f"| ours-redis refresh family (+ its access token) | {fam['families']:,} | "
            f"{fam['bytes_per_family_with_access']:.0f} | {fam['keys_per_family']:.2f} |"
        )
    elif fam:
        lines.append(f"| ours-redis refresh family | - | {fam['error']} | - |")
    live = scale.get("live_tokens", {})
    if live.get("targets"):
        small, big = live["small_tokens"], live["big_tokens"]
        lines += [
            "",
            f"### Throughput with {small:,} vs {big:,} live tokens (in-process, sequential, wall clock)",
            "",
            f"| target | req/s at {small:,} | req/s at {big:,} | ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, t in live["targets"].items():
            lines.append(f"| {key} | {t['small_rps']:,.0f} | {t['big_rps']:,.0f} | {t['ratio']:.3f} |")
    return [*lines, ""]


@dataclass(slots=True)
class TargetCheck:
    name: str
    measured: str
    status: str  # "met", "NOT met", "n/a"
    note: str = ""


def _share(summary: dict[str, Summary], key: str, ceiling: str) -> tuple[float, str] | None:
    return _ratio(summary.get(key), summary.get(ceiling))


def targets(results: Results, summary: dict[str, Summary]) -> list[TargetCheck]:
    """The broad run's targets against the SET/GET ceilings and the peers; judged only as the ratios table's are
    (:func:`benchmarks.headline.why_not_judged`), and empty when those ceilings were not measured."""
    checks: list[TargetCheck] = []
    if "ceiling/set" not in summary and "ceiling/get" not in summary:
        return checks

    def verdict(ok: bool, keys: list[str]) -> tuple[str, str]:
        why = headline.why_not_judged(results.meta, results.http, keys)
        return ("met" if ok else "NOT met", "") if why is None else ("not judged", why)

    def share_check(name: str, key: str, ceiling: str, need: float) -> None:
        r = _share(summary, key, ceiling)
        if r is None:
            why = results.refused.get(key) or results.skipped.get(key) or results.skipped.get("ours-redis/*")
            checks.append(TargetCheck(name, "-", "n/a", why or "not measured"))
            return
        basis = "" if r[1] == "http" else " (in-process CPU basis)"
        status, note = verdict(r[0] >= need, [key, ceiling])
        checks.append(TargetCheck(name, f"{r[0]:.2f}x (need ≥ {need}){basis}", status, note))

    share_check("client_credentials issuance ≥ 0.85 x SET ceiling", "ours-redis/cc_token", "ceiling/set", 0.85)
    ours = summary.get("ours-redis/cc_token")
    peer_rates = [(p, _ratio(ours, summary.get(f"{p}/cc_token"))) for p in PEERS]
    measured_peers = [(p, r) for p, r in peer_rates if r is not None]
    if ours is None or not measured_peers:
        checks.append(TargetCheck("client_credentials ≥ 1.5 x the faster peer", "-", "n/a", "not measured"))
    else:
        peer, worst = min(measured_peers, key=lambda pr: pr[1][0])  # the faster peer gives the smallest ratio
        status, note = verdict(worst[0] >= 1.5, ["ours-redis/cc_token", f"{peer}/cc_token"])
        checks.append(
            TargetCheck(
                "client_credentials ≥ 1.5 x the faster peer",
                f"{worst[0]:.2f}x {app_by_name(peer).label} (need ≥ 1.5)",
                status,
                note,
            )
        )
    share_check("introspection ≥ 0.85 x GET ceiling", "ours-redis/introspect", "ceiling/get", 0.85)
    share_check("protected route ≥ 0.95 x GET ceiling", "ours-redis/protected", "ceiling/get", 0.95)
    share_check(
        "introspection, validation cache ≥ 0.85 x GET ceiling", "ours-redis-cache/introspect", "ceiling/get", 0.85
    )

    live = results.scale.get("live_tokens", {}) if results.scale else {}
    ours_live = {k: v for k, v in live.get("targets", {}).items() if k.startswith("ours-redis/")}
    name = "1M-token throughput ≥ 0.95 x 1k-token"
    if ours_live:
        key, worst_live = min(ours_live.items(), key=lambda kv: kv[1]["ratio"])
        window = results.machine.get("scale")
        if results.meta.get("not_judged"):
            status, note = "not judged", str(results.meta["not_judged"])
        elif window is None or not (quiet := machine.verdict([window])).quiet:
            status, note = "not judged", f"machine loaded: {quiet.reason}" if window else "no machine-load reading"
        elif live["big_tokens"] < 1_000_000:
            status, note = "not judged", f"measured with {live['big_tokens']:,} tokens, not 1M"
        else:
            status, note = ("met" if worst_live["ratio"] >= 0.95 else "NOT met"), ""
        checks.append(TargetCheck(name, f"{worst_live['ratio']:.3f}x (worst: {key})", status, note))
    else:
        checks.append(TargetCheck(name, "-", "n/a", "our app was not measured"))
    return checks


def same_transport_lines(summary: dict[str, Summary]) -> list[str]:
    """Our scenarios against the ceiling routes on our own Redis connection: what the server costs beyond it."""
    cells = []
    for scenario in ("cc_token", "introspect", "protected"):
        r = _share(summary, f"ours-redis/{scenario}", f"ceiling-pipelined/{CEILING_OF[scenario]}")
        if r is not None:
            cells.append(f"{SCENARIO_TITLES[scenario].split(' (')[0]} {r[0]:.2f}x")
    if not cells:
        return []
    return [
        "For reference (not a target): the same scenarios as a share of the ceiling routes run on the pipelined "
        "Redis connection our store uses, i.e. what the OAuth server costs beyond its Redis client: "
        + "; ".join(cells)
        + ".",
        "",
    ]


def target_lines(checks: list[TargetCheck]) -> list[str]:
    lines = [
        "### Targets against the SET/GET ceilings and the peers",
        "",
        "| target | measured | status |",
        "|---|---|---|",
    ]
    for c in checks:
        status = c.status if not c.note else f"{c.status} — {c.note}"
        lines.append(f"| {c.name} | {c.measured} | {status} |")
    return [*lines, ""]


def markdown(results: Results, summary: dict[str, Summary], checks: list[TargetCheck]) -> str:
    m = results.meta
    uv = m.get("uvicorn", {})
    lines = [
        "# asgi_oauth benchmark",
        "",
        *headline.section(asdict(results)),
        "## Every app and scenario measured",
        "",
        f"{m.get('started')} · {'quick' if m.get('quick') else 'full'} run · {m.get('rounds')} interleaved rounds · "
        f"HTTP: uvicorn 1 worker ({uv.get('loop')}/{uv.get('http')}), {m.get('loadgen')} with "
        f"{m.get('connections')} connections, {m.get('duration_s')} s per sample · in-process: "
        f"{m.get('inproc_requests')} sequential requests per sample · {m.get('cpus')} CPUs · "
        f"Python {m.get('python')} · took {m.get('elapsed_s')} s",
        "",
        *scenario_tables(results, summary),
        *scale_tables(results),
        *(target_lines(checks) if checks else []),
        *same_transport_lines(summary),
    ]
    lines += NOTES
    if results.profiles:
        lines += ["Profiles of our app's in-process loop (cProfile):", ""]
        lines += [f"- {key}: `{name}`" for key, name in sorted(results.profiles.items())]
        lines.append("")
    return "\n".join(lines)


def chart(summary: dict[str, Summary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    apps = [s for s in APPS if s.kind != "ceiling"]
    series = [("ceiling", "ceiling (SET / GET route)"), *((s.name, s.label) for s in apps)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 9))
    width = 0.8 / len(series)
    xs = range(len(OAUTH_SCENARIOS))
    for i, (name, label) in enumerate(series):
        keys = [f"ceiling/{CEILING_OF[sc]}" if name == "ceiling" else f"{name}/{sc}" for sc in OAUTH_SCENARIOS]
        sums = [summary.get(k) for k in keys]
        pos = [x + (i - (len(series) - 1) / 2) * width for x in xs]
        rps = [s.rps if s and s.rps else 0.0 for s in sums]
        low = [r - (s.rps_min or r) if s else 0.0 for r, s in zip(rps, sums, strict=True)]
        high = [(s.rps_max or r) - r if s else 0.0 for r, s in zip(rps, sums, strict=True)]
        top.bar(pos, rps, width, label=label, yerr=[low, high], capsize=2)
        bottom.bar(pos, [s.cpu_us if s and s.cpu_us else 0.0 for s in sums], width, label=label)
    for ax, title in (
        (top, "HTTP req/s (median, min-max)"),
        (bottom, "in-process CPU µs per request (lower is better)"),
    ):
        ax.set_xticks(list(xs), [SCENARIO_TITLES[s].split(" (")[0] for s in OAUTH_SCENARIOS], fontsize=8)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    top.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: Results, output: Path) -> str:
    """Write report.md, results.json and chart.png under ``output``; returns the markdown."""
    output.mkdir(parents=True, exist_ok=True)
    summary = summarise(results)
    checks = targets(results, summary)
    text = markdown(results, summary, checks)
    (output / "report.md").write_text(text + "\n")
    payload = {
        **asdict(results),
        "summary": {k: asdict(v) for k, v in sorted(summary.items())},
        "targets": [asdict(c) for c in checks],
    }
    (output / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    headline.chart(asdict(results), output / "ratios.png")
    if "ceiling/set" in summary or "ceiling/get" in summary:
        chart(summary, output / "chart.png")
    return text


def load(path: Path) -> Any:
    return json.loads(path.read_text())
