"""Building blocks of the tasks-api dashboard: panels, queries and label matchers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Label matchers shared by every query on raw service metrics. An empty
# $cluster or $namespace (a Prometheus without those labels, as in compose)
# matches series that lack the label.
SLO_SEL = 'cluster=~"$cluster", namespace=~"$namespace", job=~"$job"'
SEL = f'{SLO_SEL}, pod=~"$pod"'
API = f'{SEL}, handler=~"/api/.*"'
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


def ratio(part: str, whole: str) -> str:
    """Return ``part / whole``: 0 while ``part`` has no series, nothing while ``whole`` is 0.

    ``part`` and ``whole`` are aggregations with the same ``by`` labels. A
    label set without ``part`` series (a route that never failed) has a ratio
    of 0; a label set without traffic in the window (an idle route) has no
    ratio at all instead of NaN, which would hide the panel's other lines.
    """
    return f"({part} or 0 * {whole}) / ({whole} > 0)"
