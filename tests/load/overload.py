"""The overload scenario: 4 x the sustainable rate, open loop, and what the service makes of it.

The sustainable rate is measured first, in the same run: wrk's closed-loop peak
of the service on the same mix (80 % GET by id, 20 % POST). Then the open-loop
generator (tests/load/openloop.py, in its own process) offers `factor` times
that rate for `duration` seconds, with the kubelet's probes and a Prometheus
scrape beside it. Reported: goodput (2xx answers within the client timeout, per
second) against the peak, the p99 of the shed answers (503 with Retry-After),
the probes' p99 and whether each was answered 200 in time, and whether every
201 is in the database (its rows counted after the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.load.checks import Check, make_check, ratio
from tests.load.loadgen import Load, RunResult, run_wrk
from tests.load.openloop import API_KINDS, PROBE_PATHS, Outcome
from tests.load.seed import count_tagged, missing_tasks
from tests.load.targets import Target
from tests.support.server import PROJECT_ROOT

MIN_GOODPUT_RATIO = 0.8
MAX_SHED_P99_MS = 50.0
LATE_MS = 10.0  # a request sent later than this after its time counts as sent late
IDLE_LATENCY_S = 0.2


@dataclass(frozen=True)
class OverloadSettings:
    """How hard, how long, and how patient the overload's clients are."""

    factor: float = 4.0
    duration: float = 10.0
    timeout: float = 2.0  # an API answer later than this is a failure (wrk's default too)
    probe_timeout: float = 2.0  # the chart's liveness and startup probe timeout
    probe_rate: float = 5.0  # per probe and second, so that a p99 means something
    create_share: float = 0.2


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


def wait_idle(target: Target, timeout: float = 120.0) -> float:
    """Wait until /healthz answers fast again (the queue drained); the seconds it took."""
    started = time.monotonic()
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() - started < timeout:
            asked = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                answered = client.get(f"{target.base_url}/healthz").status_code == 200
                if answered and time.monotonic() - asked < IDLE_LATENCY_S:
                    return time.monotonic() - started
            time.sleep(0.5)
    return time.monotonic() - started


def generate(
    settings: OverloadSettings,
    target: Target,
    *,
    rate: float,
    token_file: Path,
    ids_file: Path,
    tag: str,
    output: Path,
) -> tuple[list[Outcome], float]:
    """Run the open-loop generator in its own process; its outcomes and its CPU seconds."""
    argv = [
        sys.executable,
        "-m",
        "tests.load.openloop",
        f"--port={target.port}",
        f"--rate={rate:.3f}",
        f"--duration={settings.duration:g}",
        f"--create-share={settings.create_share:g}",
        f"--probe-rate={settings.probe_rate:g}",
        f"--timeout={settings.timeout:g}",
        f"--probe-timeout={settings.probe_timeout:g}",
        f"--token-file={token_file}",
        f"--ids-file={ids_file}",
        f"--tag={tag}",
        f"--output={output}",
    ]
    if target.metrics_port is not None:
        argv.append(f"--metrics-port={target.metrics_port}")
    before = _children_cpu()
    subprocess.run(
        argv, cwd=PROJECT_ROOT, check=True, timeout=settings.duration + settings.timeout + 120
    )
    cpu = _children_cpu() - before
    return [Outcome(**json.loads(line)) for line in output.read_text().splitlines() if line], cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value} ms"


def format_overload(
    summary: OverloadSummary, *, created: int, committed: int, probe_timeout: float
) -> list[str]:
    """The overload's table lines."""
    timed_out = f"> {probe_timeout * 1000:.0f}"
    probes = "; ".join(
        f"/{p.probe} p99 {timed_out if p.p99_ms is None else p.p99_ms} ms, "
        f"{p.served}/{p.count} answered 200"
        for p in summary.probes
    )
    failed = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors.items())) or "none"
    answers = ", ".join(f"{k} {v}" for k, v in sorted(summary.answers.items())) or "none"
    return [
        "| overload (80 % GET by id, 20 % POST, open loop) | |",
        "|---|---|",
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


def run_overload(
    settings: OverloadSettings,
    load: Load,
    target: Target,
    *,
    token: str,
    ids_file: Path,
    dsn: str,
    out: Path,
    log: Any,
) -> tuple[dict[str, Any], list[Check], RunResult]:
    """Peak first, then the open-loop overload; the report part, its checks, the peak run."""
    peak = run_wrk(
        load,
        base_url=target.base_url,
        scenario="mixed",
        ids_file=ids_file,
        token=token,
        target=target.name,
        round_number=0,
    )
    # The sustainable rate is what the service answers successfully: with shedding, wrk's
    # connections beyond the bound get quick 503s that are no capacity at all.
    rate = settings.factor * peak.success_rps
    log(f"overload: closed-loop peak {peak.success_rps:.0f} req/s, offering {rate:.0f} req/s")
    token_file = out / "overload-token.txt"
    token_file.write_text(token)
    token_file.chmod(0o600)
    tag = secrets.token_hex(4)
    try:
        outcomes, generator_cpu = generate(
            settings,
            target,
            rate=rate,
            token_file=token_file,
            ids_file=ids_file,
            tag=tag,
            output=out / "overload-outcomes.jsonl",
        )
    finally:
        token_file.unlink()
    log(f"overload: queue drained {wait_idle(target):.1f} s after the generator stopped")
    summary = summarise_outcomes(
        outcomes,
        duration=settings.duration,
        planned_rps=rate,
        peak_rps=peak.success_rps,
        generator_cpu_s=generator_cpu,
    )
    ids = created_ids(outcomes)
    created = sum(1 for o in outcomes if o.status == 201)
    # A 201 without a Location cannot be found again: it counts as lost.
    unverifiable = created - len(ids)
    missing = asyncio.run(missing_tasks(dsn, ids))
    committed = asyncio.run(count_tagged(dsn, tag))
    checks = overload_checks(summary, created, len(missing) + unverifiable, settings.probe_timeout)
    part = {
        "settings": asdict(settings),
        "summary": asdict(summary),
        "created": created,
        "missing": missing,
        "created_without_location": unverifiable,
        "rows_of_the_run": committed,
        "table": format_overload(
            summary, created=created, committed=committed, probe_timeout=settings.probe_timeout
        ),
    }
    return part, checks, peak
