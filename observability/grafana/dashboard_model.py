"""Building blocks of the tasks-api dashboard: panels, queries and label matchers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Label matchers shared by every query on raw service metrics.
SEL = 'job=~"$job", instance=~"$instance"'
API = f'{SEL}, handler=~"/api/.*"'
# SLO recording rules are aggregated per job; they have no instance label.
SLO_SEL = 'job=~"$job"'
RATE = "[$__rate_interval]"
SERVER_ERRORS = ', status=~"5.."'
CLIENT_ERRORS = ', status=~"4.."'
WITHIN_SLO = ', le="0.25"'

Json = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel."""

    expr: str
    legend: str
    instant: bool = False
    exemplar: bool = False


@dataclass(frozen=True)
class Panel:
    """A panel before layout: kind, texts, unit and queries."""

    title: str
    description: str
    unit: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"
    width: int = 8
    height: int = 8
    stack: bool = False
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    extra: Json = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A titled group of panels."""

    title: str
    panels: tuple[Panel, ...]


def rate(metric: str, matchers: str = SEL) -> str:
    """Return ``rate(metric{matchers}[$__rate_interval])``."""
    return f"rate({metric}{{{matchers}}}{RATE})"


def quantile(q: float, metric: str, by: str, matchers: str = SEL) -> str:
    """Return a histogram_quantile over ``metric``'s buckets, grouped by ``by`` and le."""
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) ({rate(metric + '_bucket', matchers)}))"


def burn_rate_targets(slo: str, budget: float) -> tuple[Target, ...]:
    """Return one burn-rate query per recorded window of an SLO."""
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    return tuple(
        Target(
            f'slo:sli_error:ratio_rate{w}{{{SLO_SEL}, slo="{slo}"}} / {budget}',
            f"{w}",
        )
        for w in windows
    )
