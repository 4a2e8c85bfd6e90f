"""The SLO spec (slos.yaml) as typed objects, and the PromQL each part of it needs.

Read by generate_slo.py (rules and runbook) and by the dashboard generator (its
SLO row), so that every threshold, window and selector comes from one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SPEC = Path(__file__).resolve().parent / "slos.yaml"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SELECTOR = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$")


def seconds(duration: str) -> int:
    """Seconds of a Prometheus duration such as ``5m`` or ``3d``."""
    match = _DURATION.match(duration)
    if match is None:
        msg = f"not a simple Prometheus duration: {duration!r}"
        raise ValueError(msg)
    return int(match.group(1)) * _SECONDS[match.group(2)]


@dataclass(frozen=True)
class BurnRate:
    """One long/short window pair of a burn-rate alert."""

    alert: str
    severity: str
    factor: float
    long: str
    short: str
    for_: str

    @property
    def budget_share(self) -> float:
        """Share of the period's budget that the long window spends at this burn rate."""
        return self.factor * seconds(self.long) / seconds("30d")


@dataclass(frozen=True)
class Slo:
    """One SLO: its objective and how its bad and total requests are counted."""

    name: str
    title: str
    objective: float
    good: str
    bad_text: str
    total: str
    bad: str | None
    within: str | None

    @property
    def budget(self) -> float:
        """The error budget, 1 - objective, without float noise."""
        return round(1 - self.objective, 10)

    @property
    def alert_prefix(self) -> str:
        """``TasksApi`` plus the SLO's title: the prefix of its alert names."""
        return f"TasksApi{self.title}"


@dataclass(frozen=True)
class Spec:
    """The whole SLO spec."""

    service: str
    period: str
    selector: str
    aggregate_by: tuple[str, ...]
    runbook_url: str
    dashboard_url: str
    burn_rates: tuple[BurnRate, ...]
    min_bad_requests: int
    absent_for: str
    absent_lookback: str
    slos: tuple[Slo, ...]

    @property
    def by(self) -> str:
        """The aggregation labels as PromQL writes them."""
        return ", ".join(self.aggregate_by)

    @property
    def windows(self) -> tuple[str, ...]:
        """Every window an error ratio is recorded for, shortest first."""
        names = {"5m"} | {p.long for p in self.burn_rates} | {p.short for p in self.burn_rates}
        return tuple(sorted(names, key=seconds))

    @property
    def long_windows(self) -> tuple[str, ...]:
        """The long windows of the burn-rate pairs, shortest first."""
        return tuple(sorted({p.long for p in self.burn_rates}, key=seconds))

    def alerts(self) -> dict[str, tuple[BurnRate, ...]]:
        """Burn-rate pairs grouped by alert suffix, in spec order."""
        grouped: dict[str, list[BurnRate]] = {}
        for pair in self.burn_rates:
            grouped.setdefault(pair.alert, []).append(pair)
        return {name: tuple(pairs) for name, pairs in grouped.items()}


def load(path: Path = SPEC) -> Spec:
    """Parse and validate the SLO spec."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs = tuple(
        BurnRate(
            alert=str(p["alert"]),
            severity=str(p["severity"]),
            factor=float(p["factor"]),
            long=str(p["long"]),
            short=str(p["short"]),
            for_=str(p["for"]),
        )
        for p in raw["burn_rates"]
    )
    slos = tuple(
        Slo(
            name=str(s["name"]),
            title=str(s["title"]),
            objective=float(s["objective"]),
            good=str(s["good"]),
            bad_text=str(s["bad_text"]),
            total=str(s["total"]),
            bad=s.get("bad"),
            within=s.get("within"),
        )
        for s in raw["slos"]
    )
    for slo in slos:
        if (slo.bad is None) == (slo.within is None):
            msg = f"SLO {slo.name}: give exactly one of 'bad' and 'within'"
            raise ValueError(msg)
        if not 0 < slo.objective < 1:
            msg = f"SLO {slo.name}: objective must be between 0 and 1"
            raise ValueError(msg)
    for pair in pairs:
        if seconds(pair.short) >= seconds(pair.long):
            msg = f"burn rate {pair.factor}: the short window must be shorter than the long one"
            raise ValueError(msg)
    return Spec(
        service=str(raw["service"]),
        period=str(raw["period"]),
        selector=str(raw["selector"]),
        aggregate_by=tuple(raw["aggregate_by"]),
        runbook_url=str(raw["runbook_url"]),
        dashboard_url=str(raw["dashboard_url"]),
        burn_rates=pairs,
        min_bad_requests=int(raw["min_bad_requests"]),
        absent_for=str(raw["absent_for"]),
        absent_lookback=str(raw["absent_lookback"]),
        slos=slos,
    )


def with_selector(series: str, selector: str) -> str:
    """``metric{a="b"}`` with ``selector`` added in front of its own matchers."""
    match = _SELECTOR.match(series.strip())
    if match is None:
        msg = f"not a metric selector: {series!r}"
        raise ValueError(msg)
    name, matchers = match.groups()
    inner = f"{selector}, {matchers}" if matchers.strip() else selector
    return f"{name}{{{inner}}}"


@dataclass(frozen=True)
class Queries:
    """PromQL of one SLO, selected and aggregated as the spec says."""

    spec: Spec
    slo: Slo

    def _sum(self, function: str, series: str, window: str) -> str:
        selected = with_selector(series, self.spec.selector)
        return f"sum by ({self.spec.by}) ({function}({selected}[{window}]))"

    def total(self, function: str, window: str) -> str:
        """Requests per window (``rate`` or ``increase``)."""
        return self._sum(function, self.slo.total, window)

    def bad(self, function: str, window: str) -> str:
        """Bad requests per window; 0, not empty, while there are requests but none bad."""
        if self.slo.within is not None:
            within = self._sum(function, self.slo.within, window)
            return f"{self.total(function, window)}\n-\n{within}"
        assert self.slo.bad is not None
        bad = self._sum(function, self.slo.bad, window)
        return f"{bad}\nor\n0 * {self.total(function, window)}"

    def error_ratio(self, window: str) -> str:
        """Share of bad requests over the window."""
        return f"(\n{_indent(self.bad('rate', window))}\n)\n/\n{self.total('rate', window)}"

    def recorded(self, name: str) -> str:
        """A recorded series of this SLO, with the service selector."""
        return f'{name}{{{self.spec.selector}, slo="{self.slo.name}"}}'


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def percent(value: float) -> str:
    """A share as a short percentage: 0.0144 -> '1.44 %'."""
    return f"{value * 100:.4g} %"


def factor_text(value: float) -> str:
    """A burn-rate factor without a trailing .0: 14.4 -> '14.4', 6.0 -> '6'."""
    return f"{value:g}"
