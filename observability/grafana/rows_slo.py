"""The SLO row of the tasks-api dashboard, built from the SLO spec (observability/slo/slos.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

from dashboard_model import SLO_SEL, Json, Panel, Row, Target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "slo"))
from slo_spec import Spec, factor_text, load, percent, seconds


def _recorded(name: str, slo: str) -> str:
    return f'{name}{{{SLO_SEL}, slo="{slo}"}}'


def slo_row(spec: Spec | None = None) -> Row:
    """Return budget remaining, the SLI over the period and burn rates per window, per SLO."""
    spec = spec or load()
    days = f"{seconds(spec.period) // 86400} days"
    budget_steps = ((None, "red"), (0.0, "orange"), (0.25, "yellow"), (0.5, "green"))
    factors = sorted({pair.factor for pair in spec.burn_rates})
    colours = ("yellow", "orange", "orange", "red")[-len(factors) :]
    burn_steps: tuple[tuple[float | None, str], ...] = (
        (None, "green"),
        *zip(factors, colours, strict=True),
    )
    burn_extra: Json = {"thresholdsStyle": "line"}
    pages = " or ".join(
        f"{factor_text(p.factor)} ({p.long} and {p.short})"
        for p in spec.burn_rates
        if p.severity == "critical"
    )
    tickets = " or ".join(
        f"{factor_text(p.factor)} ({p.long} and {p.short})"
        for p in spec.burn_rates
        if p.severity != "critical"
    )
    stats: list[Panel] = []
    burns: list[Panel] = []
    width = 24 // (2 * len(spec.slos))
    for slo in spec.slos:
        stats.append(
            Panel(
                f"{slo.title} error budget remaining",
                f"Share of the {days} {slo.name} budget ({percent(slo.budget)} of API requests"
                f" may be {slo.bad_text.removeprefix('with ')}) still left."
                " Negative: the SLO is missed.",
                "percentunit",
                (
                    Target(
                        _recorded(f"slo:error_budget_remaining:ratio{spec.period}", slo.name),
                        "{{namespace}} {{job}}",
                    ),
                ),
                kind="stat",
                width=width,
                thresholds=budget_steps,
            )
        )
        stats.append(
            Panel(
                f"{slo.title} SLI over {days}",
                f"Share of API requests {slo.good} over {days}"
                f" (objective {percent(slo.objective)}).",
                "percentunit",
                (
                    Target(
                        f"1 - {_recorded(f'slo:sli_error:ratio_rate{spec.period}', slo.name)}",
                        "{{namespace}} {{job}}",
                    ),
                ),
                kind="stat",
                width=width,
                thresholds=((None, "red"), (slo.objective, "green")),
                extra={"decimals": 3},
            )
        )
        burns.append(
            Panel(
                f"{slo.title} burn rate by window",
                f"Share of requests {slo.bad_text} divided by the {percent(slo.budget)} budget,"
                f" per window; 1 spends the budget in exactly {days}. Pages at {pages};"
                f" tickets at {tickets}, each with at least {spec.min_bad_requests} bad"
                " requests in the long window.",
                "suffix:x",
                tuple(
                    Target(
                        f"{_recorded(f'slo:sli_error:ratio_rate{w}', slo.name)} / {slo.budget:g}",
                        w,
                    )
                    for w in spec.windows
                ),
                width=24 // len(spec.slos),
                thresholds=burn_steps,
                extra=burn_extra,
            )
        )
    return Row(f"SLOs ({days})", (*stats, *burns))
