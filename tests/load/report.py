"""Aggregate the runs into per-target summaries and ratios; write the JSON and the table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.load.checks import Check, ratio, throughput_checks
from tests.load.loadgen import SCENARIOS, RunResult

MB = 1024 * 1024
# Table order; service_sampled (10 % of traces) runs in the GET scenario only.
TARGETS = ("service", "service_sampled", "instrumented", "bare")
RATIOS = (
    ("service", "bare"),
    ("service", "instrumented"),
    ("instrumented", "bare"),
    ("service_sampled", "bare"),
)


@dataclass(frozen=True)
class Summary:
    """One scenario on one target, over all its rounds."""

    scenario: str
    target: str
    runs: int
    requests: int
    rps: float  # successful answers per second: a shed 503 is no capacity
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def summarise(results: Sequence[RunResult], scenario: str, target: str) -> Summary:
    """Successful answers/s over the summed time; latency percentiles averaged over the rounds."""
    runs = [r for r in results if r.scenario == scenario and r.target == target]
    if not runs:
        raise ValueError(f"no runs of {scenario} on {target}")
    seconds = sum(r.seconds for r in runs)
    if seconds <= 0:
        raise ValueError(f"the runs of {scenario} on {target} lasted no time")
    requests = sum(r.requests for r in runs)
    count = len(runs)
    return Summary(
        scenario=scenario,
        target=target,
        runs=count,
        requests=requests,
        rps=sum(r.success_rps * r.seconds for r in runs) / seconds,
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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def ratio_rows(summaries: dict[str, Summary]) -> dict[str, dict[str, float | None]]:
    """The ratios of one scenario: service/bare, service/instrumented, instrumented/bare, ..."""
    rows = {}
    for numerator, denominator in RATIOS:
        top, bottom = summaries.get(numerator), summaries.get(denominator)
        if top is None or bottom is None:
            continue
        rows[f"{numerator}/{denominator}"] = {
            key: _rounded(ratio(getattr(top, attr), getattr(bottom, attr)))
            for key, attr in (
                ("rps", "rps"),
                ("p50", "p50_ms"),
                ("p95", "p95_ms"),
                ("p99", "p99_ms"),
            )
        }
    return rows


def build_report(
    results: Sequence[RunResult],
    facts: dict[str, TargetFacts],
    settings: dict[str, Any],
    *,
    overload: dict[str, Any] | None = None,
    overload_checks: Sequence[Check] = (),
) -> dict[str, Any]:
    """Everything of one benchmark run, JSON-ready; every scenario needs service and bare runs."""
    scenarios = [name for name in SCENARIOS if any(r.scenario == name for r in results)]
    summaries: dict[tuple[str, str], Summary] = {}
    rows = []
    for scenario in scenarios:
        ran = [t for t in TARGETS if any(r.scenario == scenario and r.target == t for r in results)]
        for required in ("service", "bare"):
            if required not in ran:
                raise ValueError(f"no runs of {scenario} on {required}")
        per_target = {target: summarise(results, scenario, target) for target in ran}
        summaries |= {(scenario, target): value for target, value in per_target.items()}
        rows.append(
            {
                "scenario": scenario,
                "label": SCENARIOS[scenario],
                "targets": {target: asdict(value) for target, value in per_target.items()},
                "ratios": ratio_rows(per_target),
            }
        )
    found = throughput_checks(summaries, facts.get("service"), SCENARIOS)
    found += overload_checks
    return {
        "settings": settings,
        "scenarios": rows,
        "targets": {name: asdict(value) for name, value in facts.items()},
        "overload": overload,
        "checks": [asdict(check) for check in found],
        "all_targets_met": all(check.passed for check in found),
        "runs": [run.as_dict() for run in results],
    }


def _figure(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(report: dict[str, Any]) -> str:
    """Plain-text tables of the report (also valid Markdown)."""
    lines = [
        "| scenario | target | successful req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["scenarios"]:
        for target, s in row["targets"].items():
            lines.append(
                f"| {row['scenario']} | {target} | {s['rps']:.0f} | {s['p50_ms']:.2f} | "
                f"{s['p95_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} |"
            )
        for name, r in row["ratios"].items():
            lines.append(
                f"| {row['scenario']} | **{name}** | {_figure(r['rps'])} | {_figure(r['p50'])} | "
                f"{_figure(r['p95'])} | {_figure(r['p99'])} | |"
            )
    lines += [
        "",
        "| target | cold start s | workers | RSS/worker MB (after load) | peak MB | PSS MB "
        "| restarts |",
        "|---|---:|---:|---|---|---|---:|",
    ]
    for name, facts in report["targets"].items():

        def mbs(values: list[float]) -> str:
            return ", ".join(f"{value:.1f}" for value in values)

        lines.append(
            f"| {name} | {facts['cold_start_seconds']:.2f} | {facts['workers']} | "
            f"{mbs(facts['worker_rss_mb'])} | {mbs(facts['worker_peak_rss_mb'])} | "
            f"{mbs(facts['worker_pss_mb'])} | {facts['worker_restarts']} |"
        )
    if report.get("overload"):
        lines += ["", *report["overload"]["table"]]
    lines += [
        "",
        "| target | service | bar | instrumented baseline | result |",
        "|---|---:|---:|---:|---|",
    ]
    for check in report["checks"]:
        verdict = "met" if check["passed"] else "**missed**"
        if check["note"]:
            verdict += f" ({check['note']})"
        measured = "n/a" if check["measured"] is None else check["measured"]
        instrumented = "" if check["instrumented"] is None else check["instrumented"]
        lines.append(
            f"| {check['name']} | {measured} | {check['op']} {check['limit']} | "
            f"{instrumented} | {verdict} |"
        )
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: Path) -> None:
    """The report as indented JSON."""
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
