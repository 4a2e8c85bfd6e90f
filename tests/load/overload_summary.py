"""The overload scenario's outcomes summed up: goodput, shed answers, probes, and its bar.

Pure functions of the generator's outcomes (tests/load/openloop.py), so that the
report and its checks are tested without a server (tests/load/test_checks.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tests.load.checks import Check, make_check, ratio
from tests.load.plan import API_KINDS, PROBE_PATHS, Outcome

MIN_GOODPUT_RATIO = 0.8
MAX_SHED_P99_MS = 50.0
LATE_MS = 10.0  # a request sent later than this after its time counts as sent late


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile; None for no values."""
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be within (0, 100], not {q}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class ProbeSummary:
    """One probe path during the overload."""

    probe: str
    count: int
    served: int  # answered 200 within the probe timeout
    p99_ms: float | None  # None: the slowest 1 % includes a probe not answered in time
    outcomes: dict[str, int]


@dataclass(frozen=True)
class OverloadSummary:
    """What became of the overload's requests."""

    duration: float
    peak_rps: float
    planned_rps: float
    requests: int
    sent_late: int
    send_lag_p99_ms: float | None
    succeeded: int
    goodput_rps: float
    goodput_ratio: float | None
    success_p99_ms: float | None
    shed: int
    shed_p99_ms: float | None
    settled_shed_p99_ms: float | None  # scheduled after the first second: the bound has adapted
    generator_cpu_s: float | None  # the generator's own CPU, which the machine's cores share
    answers: dict[str, int]  # API answers by status (and problem code)
    errors: dict[str, int]  # API requests without an answer, by cause
    probes: list[ProbeSummary]


def _answer(outcome: Outcome) -> str:
    name = str(outcome.status)
    if outcome.status == 503 and outcome.retry_after:
        name += "+Retry-After"
    return f"{name} {outcome.problem}" if outcome.problem else name


def _label(outcome: Outcome) -> str:
    return _answer(outcome) if outcome.status is not None else outcome.error or "no answer"


def summarise_outcomes(
    outcomes: Sequence[Outcome],
    *,
    duration: float,
    planned_rps: float,
    peak_rps: float,
    generator_cpu_s: float | None = None,
) -> OverloadSummary:
    """Goodput, shed answers, failures and probes of one overload run."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, not {duration}")
    api = [o for o in outcomes if o.kind in API_KINDS]
    ok = [o for o in api if o.status is not None and 200 <= o.status < 300]
    shed = [o for o in api if o.status == 503 and o.retry_after]
    probes = []
    for probe in PROBE_PATHS:
        of_probe = [o for o in outcomes if o.kind == probe]
        if not of_probe:
            continue
        # A probe that got no answer is slower than any that did.
        latencies = [math.inf if o.latency_ms is None else o.latency_ms for o in of_probe]
        p99 = percentile(latencies, 99)
        probes.append(
            ProbeSummary(
                probe=probe,
                count=len(of_probe),
                served=sum(1 for o in of_probe if o.status == 200),
                p99_ms=None if p99 is None or math.isinf(p99) else round(p99, 1),
                outcomes=dict(Counter(_label(o) for o in of_probe)),
            )
        )
    goodput = len(ok) / duration
    return OverloadSummary(
        duration=duration,
        peak_rps=round(peak_rps, 1),
        planned_rps=round(planned_rps, 1),
        requests=len(api),
        sent_late=sum(1 for o in api if o.lag_ms > LATE_MS),
        send_lag_p99_ms=_rounded(percentile([o.lag_ms for o in api], 99)),
        succeeded=len(ok),
        goodput_rps=round(goodput, 1),
        goodput_ratio=_rounded(ratio(goodput, peak_rps), 3),
        success_p99_ms=_rounded(
            percentile([o.latency_ms for o in ok if o.latency_ms is not None], 99)
        ),
        shed=len(shed),
        shed_p99_ms=_rounded(
            percentile([o.latency_ms for o in shed if o.latency_ms is not None], 99)
        ),
        settled_shed_p99_ms=_rounded(
            percentile([o.latency_ms for o in shed if o.latency_ms is not None and o.at >= 1], 99)
        ),
        generator_cpu_s=_rounded(generator_cpu_s, 1),
        answers=dict(Counter(_answer(o) for o in api if o.status is not None)),
        errors=dict(Counter(o.error or "unknown" for o in api if o.status is None)),
        probes=probes,
    )


def created_ids(outcomes: Sequence[Outcome]) -> list[str]:
    """The ids of the tasks whose creation was answered 201."""
    return [o.created_id for o in outcomes if o.status == 201 and o.created_id]


def overload_checks(
    summary: OverloadSummary, created: int, missing: int | None, probe_timeout: float
) -> list[Check]:
    """The overload bar: goodput, fast shedding, probes served, nothing lost."""
    probes = sum(p.count for p in summary.probes)
    served = sum(p.served for p in summary.probes)
    in_time = [p.p99_ms for p in summary.probes if p.p99_ms is not None]
    slowest = f"{max(in_time)} ms" if in_time else "n/a"
    if len(in_time) < len(summary.probes):
        slowest = "over the timeout"
    return [
        make_check(
            f"overload at {summary.planned_rps:.0f} req/s: goodput / closed-loop peak",
            summary.goodput_ratio,
            ">=",
            MIN_GOODPUT_RATIO,
        ),
        make_check(
            "overload: p99 of the 503 + Retry-After answers, ms",
            summary.shed_p99_ms,
            "<",
            MAX_SHED_P99_MS,
            note="" if summary.shed else "no 503 + Retry-After answer: nothing was shed",
        ),
        make_check(
            f"overload: probes answered 200 within {probe_timeout:g} s, share",
            ratio(served, probes),
            ">=",
            1.0,
            note=f"{served}/{probes}, slowest probe p99 {slowest}",
        ),
        make_check(
            "overload: 201 answers whose task is not in the database",
            missing,
            "<=",
            0,
            note=f"of {created} answered 201",
        ),
    ]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value} ms"


def format_overload(
    summary: OverloadSummary,
    *,
    created: int,
    committed: int,
    probe_timeout: float,
    setup: str = "",
) -> list[str]:
    """The overload's table lines; `setup` (CPUs, warmed connections) as a row of its own."""
    timed_out = f"> {probe_timeout * 1000:.0f}"
    probes = "; ".join(
        f"/{p.probe} p99 {timed_out if p.p99_ms is None else p.p99_ms} ms, "
        f"{p.served}/{p.count} answered 200"
        for p in summary.probes
    )
    failed = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors.items())) or "none"
    answers = ", ".join(f"{k} {v}" for k, v in sorted(summary.answers.items())) or "none"
    head = ["| overload (80 % GET by id, 20 % POST, open loop) | |", "|---|---|"]
    if setup:
        head.append(f"| set-up | {setup} |")
    return [
        *head,
        f"| closed-loop peak (wrk, same mix) | {summary.peak_rps:.0f} req/s |",
        f"| offered | {summary.planned_rps:.0f} req/s for {summary.duration:g} s "
        f"({summary.requests} requests; {summary.sent_late} sent > {LATE_MS:g} ms late, "
        f"send lag p99 {_ms(summary.send_lag_p99_ms)}; the generator's CPU "
        f"{summary.generator_cpu_s} s) |",
        f"| goodput (2xx in time) | {summary.goodput_rps:.0f} req/s = "
        f"{summary.goodput_ratio} of the peak; 2xx p99 {_ms(summary.success_p99_ms)} |",
        f"| shed (503 + Retry-After) | {summary.shed}, p99 {_ms(summary.shed_p99_ms)}; "
        f"after the first second p99 {_ms(summary.settled_shed_p99_ms)} |",
        f"| answers by status | {answers} |",
        f"| no answer | {failed} |",
        f"| probes | {probes} |",
        f"| 201 answers | {created}; rows of the run in the database: {committed} |",
    ]
