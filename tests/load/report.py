"""Aggregate the runs, check the targets, and write the JSON, the table and the chart."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.load.loadgen import SCENARIOS, RunResult

MB = 1024 * 1024
# The targets, as ratios measured in one run on the same machine.
MIN_GET_THROUGHPUT_RATIO = 0.8
MAX_GET_P99_RATIO = 1.5
MAX_WORKER_RSS_MB = 150.0
MAX_COLD_START_SECONDS = 3.0


@dataclass(frozen=True)
class Summary:
    """One scenario on one target, over all its rounds."""

    scenario: str
    target: str
    runs: int
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def summarise(results: list[RunResult], scenario: str, target: str) -> Summary:
    """Requests/s over the summed time; latency percentiles averaged over the rounds."""
    runs = [r for r in results if r.scenario == scenario and r.target == target]
    if not runs:
        raise ValueError(f"no runs of {scenario} on {target}")
    seconds = sum(r.seconds for r in runs)
    requests = sum(r.requests for r in runs)
    count = len(runs)
    return Summary(
        scenario=scenario,
        target=target,
        runs=count,
        requests=requests,
        rps=requests / seconds,
        p50_ms=sum(r.p50_ms for r in runs) / count,
        p95_ms=sum(r.p95_ms for r in runs) / count,
        p99_ms=sum(r.p99_ms for r in runs) / count,
        errors=sum(r.errors for r in runs),
    )


@dataclass(frozen=True)
class TargetFacts:
    """What was measured of a target outside the load runs."""

    cold_start_seconds: float
    workers: int
    worker_rss_mb: list[float]
    worker_peak_rss_mb: list[float]
    worker_pss_mb: list[float]
    worker_restarts: int


@dataclass(frozen=True)
class Check:
    """One target of the issue and whether it was met."""

    name: str
    measured: float
    limit: float
    passed: bool


def ratio(service: float, baseline: float) -> float:
    """service / baseline, 0 when the baseline is 0."""
    return service / baseline if baseline else 0.0


def checks(summaries: dict[tuple[str, str], Summary], service: TargetFacts) -> list[Check]:
    """The issue's targets, where the measured data allows."""
    found: list[Check] = []
    if ("get", "service") in summaries:
        get_s, get_b = summaries["get", "service"], summaries["get", "baseline"]
        rps_ratio = ratio(get_s.rps, get_b.rps)
        p99_ratio = ratio(get_s.p99_ms, get_b.p99_ms)
        found.append(
            Check(
                "GET /tasks/{id} throughput >= 0.8 x baseline",
                round(rps_ratio, 3),
                MIN_GET_THROUGHPUT_RATIO,
                rps_ratio >= MIN_GET_THROUGHPUT_RATIO,
            )
        )
        found.append(
            Check(
                "GET /tasks/{id} p99 <= 1.5 x baseline",
                round(p99_ratio, 3),
                MAX_GET_P99_RATIO,
                p99_ratio <= MAX_GET_P99_RATIO,
            )
        )
    # Resident size after the load runs. The peak (VmHWM) is reported beside it: a
    # login's argon2 hash holds 64 MiB for a moment (see "Performance" in README.md).
    rss = max(service.worker_rss_mb, default=0.0)
    found.append(
        Check(
            "RSS per worker < 150 MB (after load)",
            round(rss, 1),
            MAX_WORKER_RSS_MB,
            rss < MAX_WORKER_RSS_MB,
        )
    )
    found.append(
        Check(
            "cold start < 3 s",
            round(service.cold_start_seconds, 3),
            MAX_COLD_START_SECONDS,
            service.cold_start_seconds < MAX_COLD_START_SECONDS,
        )
    )
    return found


def build_report(
    results: list[RunResult],
    facts: dict[str, TargetFacts],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Everything of one benchmark run, JSON-ready."""
    scenarios = [name for name in SCENARIOS if any(r.scenario == name for r in results)]
    summaries = {
        (scenario, target): summarise(results, scenario, target)
        for scenario in scenarios
        for target in ("service", "baseline")
    }
    rows = []
    for scenario in scenarios:
        service, baseline = summaries[scenario, "service"], summaries[scenario, "baseline"]
        rows.append(
            {
                "scenario": scenario,
                "label": SCENARIOS[scenario],
                "service": asdict(service),
                "baseline": asdict(baseline),
                "ratio": {
                    "rps": round(ratio(service.rps, baseline.rps), 3),
                    "p50": round(ratio(service.p50_ms, baseline.p50_ms), 3),
                    "p95": round(ratio(service.p95_ms, baseline.p95_ms), 3),
                    "p99": round(ratio(service.p99_ms, baseline.p99_ms), 3),
                },
            }
        )
    found = checks(summaries, facts["service"])
    return {
        "settings": settings,
        "scenarios": rows,
        "targets": {name: asdict(value) for name, value in facts.items()},
        "checks": [asdict(check) for check in found],
        "all_targets_met": all(check.passed for check in found),
        "runs": [run.as_dict() for run in results],
    }


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report (also valid Markdown)."""
    lines = [
        "| scenario | target | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["scenarios"]:
        for target in ("service", "baseline"):
            s = row[target]
            lines.append(
                f"| {row['scenario']} | {target} | {s['rps']:.0f} | {s['p50_ms']:.2f} | "
                f"{s['p95_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} |"
            )
        r = row["ratio"]
        lines.append(
            f"| {row['scenario']} | **service/baseline** | {r['rps']:.2f} | {r['p50']:.2f} | "
            f"{r['p95']:.2f} | {r['p99']:.2f} | |"
        )
    lines.append("")
    lines.append("| target | cold start s | workers | RSS/worker MB (now) | peak MB | PSS MB |")
    lines.append("|---|---:|---:|---|---|---|")
    for name, facts in report["targets"].items():

        def mbs(values: list[float]) -> str:
            return ", ".join(f"{value:.1f}" for value in values)

        lines.append(
            f"| {name} | {facts['cold_start_seconds']:.2f} | {facts['workers']} | "
            f"{mbs(facts['worker_rss_mb'])} | {mbs(facts['worker_peak_rss_mb'])} | "
            f"{mbs(facts['worker_pss_mb'])} |"
        )
    lines.append("")
    lines.append("| check | measured | limit | result |")
    lines.append("|---|---:|---:|---|")
    for check in report["checks"]:
        verdict = "met" if check["passed"] else "MISSED"
        lines.append(f"| {check['name']} | {check['measured']} | {check['limit']} | {verdict} |")
    return "\n".join(lines)


def write_chart(report: dict[str, Any], path: Path) -> None:
    """A PNG: requests/s and p50/p99 latency per scenario, service next to baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["scenarios"]
    names = [row["scenario"] for row in rows]
    positions = list(range(len(names)))
    width = 0.38
    colors = {"service": "#3b6ea5", "baseline": "#b0b0b0"}
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels = [("rps", "requests/s (higher is better)"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")]
    for axis, (key, title) in zip(axes, panels, strict=True):
        for offset, target in ((-width / 2, "service"), (width / 2, "baseline")):
            values = [row[target][key] for row in rows]
            bars = axis.bar(
                [p + offset for p in positions], values, width, label=target, color=colors[target]
            )
            axis.bar_label(bars, fmt="%.0f" if key == "rps" else "%.1f", fontsize=8)
        axis.set_xticks(positions, names)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend()
    settings = report["settings"]
    service = report["targets"]["service"]
    figure.suptitle(
        f"tasks-api vs bare baseline: {settings['workers']} workers, "
        f"{settings['connections']} connections, {settings['duration']} s x "
        f"{settings['rounds']} rounds; service cold start {service['cold_start_seconds']:.2f} s, "
        f"peak RSS/worker {max(service['worker_peak_rss_mb'], default=0):.0f} MB"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_json(report: dict[str, Any], path: Path) -> None:
    """The report as indented JSON."""
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")


def facts_of(
    *,
    cold_start: float,
    workers: int,
    memory: list[tuple[int, int, int]],
    restarts: int,
) -> TargetFacts:
    """TargetFacts from raw (rss, peak, pss) byte triples."""
    return TargetFacts(
        cold_start_seconds=round(cold_start, 3),
        workers=workers,
        worker_rss_mb=[round(rss / MB, 1) for rss, _, _ in memory],
        worker_peak_rss_mb=[round(peak / MB, 1) for _, peak, _ in memory],
        worker_pss_mb=[round(pss / MB, 1) for _, _, pss in memory],
        worker_restarts=restarts,
    )
