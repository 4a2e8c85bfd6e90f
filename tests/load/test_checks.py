"""Ratios and targets of the benchmark, and the overload's accounting (pure functions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from tests.load.checks import Check, holds, make_check, ratio, throughput_checks
from tests.load.cpus import Split
from tests.load.loadgen import SCENARIOS
from tests.load.openloop import Outcome
from tests.load.overload import describe_setup
from tests.load.overload_summary import (
    format_overload,
    overload_checks,
    percentile,
    summarise_outcomes,
)
from tests.load.report import facts_of


@dataclass(frozen=True)
class Figures:
    rps: float
    p99_ms: float


SERVICE = facts_of(cold_start=1.2, workers=2, memory=[(100 << 20, 160 << 20, 80 << 20)], restarts=0)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_ratio() -> None:
    assert ratio(450, 1000) == pytest.approx(0.45)
    assert ratio(0, 1000) == 0.0


@pytest.mark.parametrize(
    ("numerator", "denominator"),
    [(1.0, 0.0), (1.0, -2.0), (None, 1.0), (1.0, None), (1.0, math.inf), (math.nan, 1.0)],
)
def test_ratio_without_a_meaningful_denominator_is_none(
    numerator: float | None, denominator: float | None
) -> None:
    assert ratio(numerator, denominator) is None


def test_holds_at_the_boundary_and_never_for_unmeasured_values() -> None:
    assert holds(0.45, ">=", 0.45)
    assert not holds(0.449, ">=", 0.45)
    assert holds(2.5, "<=", 2.5)
    assert not holds(120.0, "<", 120.0)
    assert not holds(None, ">=", 0.0)
    with pytest.raises(ValueError, match="unknown comparison '=='"):
        holds(1.0, "==", 1.0)


def test_an_unmeasured_check_is_missed_and_says_so() -> None:
    check = make_check("x", None, ">=", 1.0)
    assert (check.passed, check.note) == (False, "not measured")


def test_throughput_targets_met() -> None:
    summaries = {
        ("get", "service"): Figures(rps=500, p99_ms=20),
        ("get", "service_sampled"): Figures(rps=600, p99_ms=18),
        ("get", "instrumented"): Figures(rps=300, p99_ms=40),
        ("get", "bare"): Figures(rps=1000, p99_ms=10),
        ("list", "service"): Figures(rps=400, p99_ms=30),
        ("list", "instrumented"): Figures(rps=300, p99_ms=40),
        ("list", "bare"): Figures(rps=1000, p99_ms=10),
    }
    checks = throughput_checks(summaries, SERVICE, SCENARIOS)
    assert all(check.passed for check in checks), checks
    found = by_name(checks)
    get_vs_bare = found["GET /api/v1/tasks/{id} req/s, service/bare (every trace sampled)"]
    assert (get_vs_bare.measured, get_vs_bare.instrumented) == (0.5, 0.3)
    assert found["GET /api/v1/tasks/{id} req/s, service/instrumented"].measured == 1.667
    assert found["GET /api/v1/tasks/{id} p99, service/bare"].measured == 2.0
    # Scenarios that did not run are not evaluated.
    assert not any("POST" in name for name in found)


def test_throughput_targets_missed_one_by_one() -> None:
    summaries = {
        ("get", "service"): Figures(rps=440, p99_ms=26),
        ("get", "service_sampled"): Figures(rps=540, p99_ms=20),
        ("get", "instrumented"): Figures(rps=300, p99_ms=40),
        ("get", "bare"): Figures(rps=1000, p99_ms=10),
        ("create", "service"): Figures(rps=390, p99_ms=30),
        ("create", "instrumented"): Figures(rps=300, p99_ms=40),
        ("create", "bare"): Figures(rps=1000, p99_ms=10),
    }
    heavy = facts_of(cold_start=1.5, workers=2, memory=[(120 << 20, 0, 0)], restarts=0)
    checks = throughput_checks(summaries, heavy, SCENARIOS)
    assert [check.passed for check in checks] == [False, False, False, False, False, False, False]


def test_throughput_targets_without_the_instrumented_runs_are_missed() -> None:
    summaries = {
        ("get", "service"): Figures(rps=900, p99_ms=10),
        ("get", "bare"): Figures(rps=1000, p99_ms=10),
    }
    found = by_name(throughput_checks(summaries, None, SCENARIOS))
    versus = found["GET /api/v1/tasks/{id} req/s, service/instrumented"]
    assert (versus.passed, versus.note) == (False, "not measured")
    assert not any("RSS" in name or "sampling" in name for name in found)


def test_percentile_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 99) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, 0)


def outcome(
    kind: str,
    status: int | None,
    latency: float | None,
    *,
    retry_after: bool = False,
    error: str | None = None,
    created_id: str | None = None,
    problem: str | None = None,
) -> Outcome:
    return Outcome(kind, 0.0, 0.5, latency, status, retry_after, error, created_id, problem)


def test_overload_summary_that_meets_the_bar() -> None:
    outcomes = [outcome("get", 200, 20.0) for _ in range(80)]
    outcomes += [outcome("create", 201, 30.0, created_id=f"id-{n}") for n in range(20)]
    outcomes += [outcome("get", 503, 4.0, retry_after=True) for _ in range(300)]
    outcomes += [outcome(probe, 200, 3.0) for probe in ("healthz", "readyz", "metrics")]
    summary = summarise_outcomes(outcomes, duration=1.0, planned_rps=400, peak_rps=110)
    assert (summary.succeeded, summary.goodput_rps, summary.goodput_ratio) == (100, 100, 0.909)
    assert (summary.shed, summary.shed_p99_ms) == (300, 4.0)
    assert summary.answers == {"200": 80, "201": 20, "503+Retry-After": 300}
    checks = overload_checks(summary, created=20, missing=0, probe_timeout=2.0)
    assert [check.passed for check in checks] == [True, True, True, True]
    table = format_overload(summary, created=20, committed=20, probe_timeout=2.0)
    assert "| shed (503 + Retry-After) | 300, p99 4.0 ms; after the first second p99 n/a |" in table
    assert "| goodput (2xx in time) | 100 req/s = 0.909 of the peak; 2xx p99 30.0 ms |" in table


def test_overload_summary_of_a_server_that_queues() -> None:
    outcomes = [outcome("get", 200, 1900.0) for _ in range(30)]
    outcomes += [outcome("get", None, None, error="timeout") for _ in range(60)]
    # 503 without Retry-After, named by their problem code.
    outcomes += [outcome("get", 503, 9.0, problem="database_unavailable") for _ in range(10)]
    outcomes += [outcome("healthz", 200, 5.0) for _ in range(98)]
    outcomes += [outcome("healthz", None, None, error="timeout") for _ in range(2)]
    outcomes += [outcome("readyz", 200, 7.0) for _ in range(99)]
    outcomes += [outcome("readyz", None, None, error="connect")]
    summary = summarise_outcomes(outcomes, duration=1.0, planned_rps=400, peak_rps=100)
    assert (summary.goodput_ratio, summary.shed, summary.shed_p99_ms) == (0.3, 0, None)
    assert summary.errors == {"timeout": 60}
    assert summary.answers == {"200": 30, "503 database_unavailable": 10}
    healthz, readyz = summary.probes
    # Two probes in a hundred without an answer: the p99 is over the timeout; one is not.
    assert (healthz.count, healthz.served, healthz.p99_ms) == (100, 98, None)
    assert healthz.outcomes == {"200": 98, "timeout": 2}
    assert (readyz.served, readyz.p99_ms) == (99, 7.0)
    checks = overload_checks(summary, created=0, missing=2, probe_timeout=2.0)
    assert [check.passed for check in checks] == [False, False, False, False]
    assert "nothing was shed" in checks[1].note
    assert "over the timeout" in checks[2].note
    table = "\n".join(format_overload(summary, created=0, committed=7, probe_timeout=2.0))
    assert "| shed (503 + Retry-After) | 0, p99 n/a; after the first second p99 n/a |" in table
    assert "/healthz p99 > 2000 ms, 98/100 answered 200; /readyz p99 7.0 ms" in table
    assert "| no answer | timeout 60 |" in table
    assert "rows of the run in the database: 7 |" in table


def test_shed_answers_after_the_first_second_and_the_generator_s_cpu() -> None:
    early = [Outcome("get", 0.5, 0.1, 900.0, 503, True, None, None, "overloaded")] * 5
    settled = [Outcome("get", 1.5, 0.1, 30.0, 503, True, None, None, "overloaded")] * 95
    summary = summarise_outcomes(
        early + settled, duration=2.0, planned_rps=50, peak_rps=10, generator_cpu_s=0.42
    )
    assert (summary.shed_p99_ms, summary.settled_shed_p99_ms) == (900.0, 30.0)
    table = "\n".join(format_overload(summary, created=0, committed=0, probe_timeout=2.0))
    assert "after the first second p99 30.0 ms |" in table
    assert "the generator's CPU 0.4 s) |" in table


def test_overload_summary_needs_a_duration() -> None:
    with pytest.raises(ValueError, match="duration"):
        summarise_outcomes([], duration=0, planned_rps=1, peak_rps=1)
    empty = summarise_outcomes([], duration=1, planned_rps=1, peak_rps=0)
    assert (empty.goodput_ratio, empty.requests, empty.probes) == (None, 0, [])
    assert overload_checks(empty, created=0, missing=None, probe_timeout=2.0)[0].passed is False


def test_the_overload_table_names_its_set_up() -> None:
    split = describe_setup(Split(clients=(1,), service=(0,)), 128)
    assert split == (
        "clients (wrk, generator) on CPU 1, service on CPU 0; "
        "128 keep-alive connections opened before the schedule"
    )
    shared = describe_setup(Split(), 0)
    assert shared.startswith("clients and service on all CPUs; 0 keep-alive")
