"""The performance targets, as ratios measured in one run, and whether they hold."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# The hot path's targets (ratios to the baselines driven in the same run).
MIN_GET_VS_BARE = 0.45
MIN_GET_VS_INSTRUMENTED = 1.5
MAX_GET_P99_VS_BARE = 2.5
MIN_GET_SAMPLED_VS_BARE = 0.55
MIN_OTHER_VS_BARE = 0.4
MAX_WORKER_RSS_MB = 120.0
MAX_COLD_START_SECONDS = 1.5

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
}


class Measured(Protocol):
    """What a check needs of one scenario on one target."""

    @property
    def rps(self) -> float: ...

    @property
    def p99_ms(self) -> float: ...


class Facts(Protocol):
    """What a check needs of a target outside the load runs."""

    @property
    def cold_start_seconds(self) -> float: ...

    @property
    def worker_rss_mb(self) -> list[float]: ...


@dataclass(frozen=True)
class Check:
    """One target, what was measured, and whether it holds."""

    name: str
    measured: float | None
    op: str
    limit: float
    passed: bool
    # The instrumented baseline's figure on the same bar, where the bar is a ratio to bare.
    instrumented: float | None = None
    note: str = ""


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not > 0."""
    if numerator is None or denominator is None:
        return None
    if not (math.isfinite(denominator) and denominator > 0) or not math.isfinite(numerator):
        return None
    return numerator / denominator


def holds(measured: float | None, op: str, limit: float) -> bool:
    """Whether `measured op limit`; a value that was not measured never holds."""
    if op not in OPERATORS:
        raise ValueError(f"unknown comparison {op!r}")
    return measured is not None and OPERATORS[op](measured, limit)


def make_check(
    name: str,
    measured: float | None,
    op: str,
    limit: float,
    *,
    instrumented: float | None = None,
    note: str = "",
) -> Check:
    """A Check with its verdict; figures rounded for the table."""
    if measured is None and not note:
        note = "not measured"
    return Check(
        name=name,
        measured=None if measured is None else round(measured, 3),
        op=op,
        limit=limit,
        passed=holds(measured, op, limit),
        instrumented=None if instrumented is None else round(instrumented, 3),
        note=note,
    )


def throughput_checks(
    summaries: Mapping[tuple[str, str], Measured],
    service: Facts | None,
    labels: Mapping[str, str],
) -> list[Check]:
    """The hot path's targets for the scenarios that ran (keys: (scenario, target))."""

    def rps(scenario: str, target: str) -> float | None:
        found = summaries.get((scenario, target))
        return None if found is None else found.rps

    def p99(scenario: str, target: str) -> float | None:
        found = summaries.get((scenario, target))
        return None if found is None else found.p99_ms

    scenarios = {scenario for scenario, _ in summaries}
    found: list[Check] = []
    if "get" in scenarios:
        found.append(
            make_check(
                f"{labels['get']} req/s, service/bare (every trace sampled)",
                ratio(rps("get", "service"), rps("get", "bare")),
                ">=",
                MIN_GET_VS_BARE,
                instrumented=ratio(rps("get", "instrumented"), rps("get", "bare")),
            )
        )
        found.append(
            make_check(
                f"{labels['get']} req/s, service/instrumented",
                ratio(rps("get", "service"), rps("get", "instrumented")),
                ">=",
                MIN_GET_VS_INSTRUMENTED,
            )
        )
        found.append(
            make_check(
                f"{labels['get']} p99, service/bare",
                ratio(p99("get", "service"), p99("get", "bare")),
                "<=",
                MAX_GET_P99_VS_BARE,
                instrumented=ratio(p99("get", "instrumented"), p99("get", "bare")),
            )
        )
        if ("get", "service_sampled") in summaries:
            found.append(
                make_check(
                    f"{labels['get']} req/s at 10 % sampling, service/bare",
                    ratio(rps("get", "service_sampled"), rps("get", "bare")),
                    ">=",
                    MIN_GET_SAMPLED_VS_BARE,
                )
            )
    for scenario in ("list", "create", "mixed"):
        if scenario in scenarios:
            found.append(
                make_check(
                    f"{labels[scenario]} req/s, service/bare",
                    ratio(rps(scenario, "service"), rps(scenario, "bare")),
                    ">=",
                    MIN_OTHER_VS_BARE,
                    instrumented=ratio(rps(scenario, "instrumented"), rps(scenario, "bare")),
                )
            )
    if service is not None:
        found += facts_checks(service)
    return found


def facts_checks(service: Facts) -> list[Check]:
    """Memory after load and cold start of the service."""
    rss: Sequence[float] = service.worker_rss_mb
    return [
        make_check(
            "RSS per worker after load, MB",
            max(rss) if rss else None,
            "<",
            MAX_WORKER_RSS_MB,
        ),
        make_check(
            "cold start to /readyz 200, s",
            service.cold_start_seconds,
            "<",
            MAX_COLD_START_SECONDS,
        ),
    ]
