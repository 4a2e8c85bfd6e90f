"""Generate the SLO rules and the runbook's SLO section from slos.yaml.

    uv run python observability/slo/generate_slo.py          # rewrite the files
    uv run python observability/slo/generate_slo.py --check  # exit 1 if one is stale

Writes prometheus/rules/slo-recording.yaml, prometheus/rules/slo-alerts.yaml and
the "SLO overview" section of RUNBOOK.md. --check also checks the dashboard,
whose SLO row the dashboard generator builds from the same spec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from slo_spec import Queries, Slo, Spec, factor_text, load, percent, seconds, with_selector

OBSERVABILITY = Path(__file__).resolve().parents[1]
RULES = OBSERVABILITY / "prometheus" / "rules"
RECORDING = RULES / "slo-recording.yaml"
ALERTS = RULES / "slo-alerts.yaml"
RUNBOOK = OBSERVABILITY / "RUNBOOK.md"
BEGIN = "<!-- BEGIN SLO section: generated from observability/slo/slos.yaml, do not edit -->"
END = "<!-- END SLO section -->"
WHERE = (
    "{{ $labels.job }}{{ with $labels.namespace }} in namespace {{ . }}{{ end }}"
    "{{ with $labels.cluster }} (cluster {{ . }}){{ end }}"
)
DASHBOARD_VARIABLES = (
    "?var-job={{ $labels.job }}{{ with $labels.namespace }}&var-namespace={{ . }}{{ end }}"
    "{{ with $labels.cluster }}&var-cluster={{ . }}{{ end }}"
)
HEADER = """\
# GENERATED from observability/slo/slos.yaml by observability/slo/generate_slo.py:
# edit the spec and regenerate, never this file.
"""


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
# Each rule spells out its labels: no YAML anchors and aliases.
_Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def dump(document: dict[str, Any], comment: str) -> str:
    """A rule file: the generated-file header, a comment, then the YAML."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in comment.strip().splitlines())
    return HEADER + lines + body


def _days(spec: Spec) -> str:
    return f"{seconds(spec.period) // 86400}-day"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _constant(spec: Spec, value: float) -> str:
    # A constant per service series: the scrape targets' up carries the labels.
    return f"0 * sum by ({spec.by}) (up{{{spec.selector}}}) + {value:g}"


def recording_group(spec: Spec, slo: Slo) -> dict[str, Any]:
    """The recording rules of one SLO."""
    q = Queries(spec, slo)
    labels = {"slo": slo.name}
    rules: list[dict[str, Any]] = [
        {"record": f"slo:sli_error:ratio_rate{w}", "labels": labels, "expr": q.error_ratio(w)}
        for w in spec.windows
    ]
    rules += [
        {
            "record": f"slo:sli_bad_requests:increase{w}",
            "labels": labels,
            "expr": q.bad("increase", w),
        }
        for w in spec.long_windows
    ]
    period = spec.period
    rules += [
        {"record": "slo:sli_requests:rate5m", "labels": labels, "expr": q.total("rate", "5m")},
        {"record": "slo:sli_bad_requests:rate5m", "labels": labels, "expr": q.bad("rate", "5m")},
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "labels": labels,
            "expr": (
                f"sum_over_time({q.recorded('slo:sli_bad_requests:rate5m')}[{period}])\n/\n"
                f"sum_over_time({q.recorded('slo:sli_requests:rate5m')}[{period}])"
            ),
        },
        {"record": "slo:objective:ratio", "labels": labels, "expr": _constant(spec, slo.objective)},
        {"record": "slo:error_budget:ratio", "labels": labels, "expr": _constant(spec, slo.budget)},
        {
            "record": f"slo:error_budget_remaining:ratio{period}",
            "labels": labels,
            "expr": (
                f"1 - {q.recorded(f'slo:sli_error:ratio_rate{period}')}\n"
                f"/ on ({spec.by}, slo)\n{q.recorded('slo:error_budget:ratio')}"
            ),
        },
    ]
    return {"name": f"{spec.service}-slo-{slo.name}", "rules": rules}


def burn_rate_alert(spec: Spec, slo: Slo, suffix: str, pairs: tuple[Any, ...]) -> dict[str, Any]:
    """One burn-rate alert of an SLO: its window pairs joined with ``or``."""
    q = Queries(spec, slo)
    on = f"and on ({spec.by}, slo)"
    branches = []
    for pair in pairs:
        threshold = f"({factor_text(pair.factor)} * {slo.budget:g})"
        branch = "\n".join(
            (
                f"{q.recorded(f'slo:sli_error:ratio_rate{pair.long}')} > {threshold}",
                on,
                f"{q.recorded(f'slo:sli_error:ratio_rate{pair.short}')} > {threshold}",
                on,
                f"{q.recorded(f'slo:sli_bad_requests:increase{pair.long}')}"
                f" >= {spec.min_bad_requests}",
            )
        )
        branches.append(f"(\n{_indent(branch)}\n)")
    longs = " or ".join(p.long for p in pairs)
    slowest = min(p.factor for p in pairs)
    name = f"{slo.alert_prefix}{suffix}"
    fast = pairs[0].severity == "critical"
    summary = (
        f"{spec.service} is burning its {slo.name} error budget fast."
        if fast
        else f"{spec.service} is steadily burning its {slo.name} error budget."
    )
    tail = (
        "At this pace the monthly budget is gone within days."
        if fast
        else "Left alone, the SLO will be missed this month."
    )
    pace = (
        f"at least {factor_text(slowest)}x the rate that would spend the whole"
        f" {_days(spec)} budget of {percent(slo.budget)}. {tail}"
    )
    return {
        "alert": name,
        "expr": "\nor\n".join(branches),
        "for": pairs[0].for_,
        "labels": {"severity": pairs[0].severity},
        "annotations": {
            "summary": summary,
            "description": (
                f"{WHERE} answered {{{{ $value | humanizePercentage }}}} of API requests"
                f" {slo.bad_text} over the long window ({longs}), {pace}"
            ),
            "runbook_url": f"{spec.runbook_url}#{name.lower()}",
            "dashboard_url": f"{spec.dashboard_url}{DASHBOARD_VARIABLES}",
        },
    }


def absent_alert(spec: Spec, slo: Slo) -> dict[str, Any]:
    """The alert for an SLI metric that vanished while the service is scraped."""
    selected = with_selector(slo.total, spec.selector)
    metric = selected.split("{", 1)[0]
    name = f"{slo.alert_prefix}SLIAbsent"
    expr = "\n".join(
        (
            f"count by ({spec.by}) (up{{{spec.selector}}} == 1)",
            f"unless on ({spec.by})",
            f"count by ({spec.by}) ({selected})",
            f"and on ({spec.by})",
            f"count by ({spec.by}) (last_over_time({selected}[{spec.absent_lookback}]))",
        )
    )
    return {
        "alert": name,
        "expr": expr,
        "for": spec.absent_for,
        "labels": {"severity": "warning", "slo": slo.name},
        "annotations": {
            "summary": f"The {slo.name} SLI of {spec.service} has vanished.",
            "description": (
                f"{WHERE} is scraped, but has had no {metric} series for {spec.absent_for},"
                f" although it had within the last {spec.absent_lookback}. The {slo.name}"
                " SLO and its burn-rate alerts see nothing meanwhile."
            ),
            "runbook_url": f"{spec.runbook_url}#{name.lower()}",
            "dashboard_url": f"{spec.dashboard_url}{DASHBOARD_VARIABLES}",
        },
    }


def recording_file(spec: Spec) -> str:
    """The text of slo-recording.yaml."""
    groups = [recording_group(spec, slo) for slo in spec.slos]
    comment = (
        f"Recording rules of the {spec.service} SLOs ({spec.period} window), one group per SLO.\n"
        f"Every series keeps {{{spec.by}, slo}}. RUNBOOK.md (SLO overview) lists them."
    )
    return dump({"groups": groups}, comment)


def alerts_file(spec: Spec) -> str:
    """The text of slo-alerts.yaml."""
    rules: list[dict[str, Any]] = []
    for slo in spec.slos:
        for suffix, pairs in spec.alerts().items():
            rules.append(burn_rate_alert(spec, slo, suffix, pairs))
        rules.append(absent_alert(spec, slo))
    comment = (
        "Multi-window, multi-burn-rate alerts of the SLOs and their absent-SLI alerts.\n"
        "They read slo-recording.yaml: evaluate its groups first."
    )
    return dump({"groups": [{"name": f"{spec.service}-slo-alerts", "rules": rules}]}, comment)


def runbook_section(spec: Spec) -> str:
    """The generated "SLO overview" section of RUNBOOK.md, markers included."""
    rows = "\n".join(
        f"| {slo.title} | {slo.good} (`{slo.total.split('{')[0]}`) | {percent(slo.objective)}"
        f" | {percent(slo.budget)} of requests |"
        for slo in spec.slos
    )
    ratio_header = f"error ratio ({' / '.join(s.name for s in spec.slos)})"
    pairs_table = _table(
        (
            "alert",
            "severity",
            "burn rate",
            "long window",
            "short window",
            "for",
            "budget spent",
            ratio_header,
        ),
        [
            (
                f"`…{pair.alert}`",
                pair.severity,
                f"{factor_text(pair.factor)}x",
                pair.long,
                pair.short,
                pair.for_,
                f"{percent(pair.budget_share)} in {pair.long}",
                " / ".join(percent(pair.factor * s.budget) for s in spec.slos),
            )
            for pair in spec.burn_rates
        ],
    )
    ratios = ", ".join(spec.windows)
    p = spec.period
    recording_table = _table(
        ("rule", "meaning"),
        [
            ("`slo:sli_error:ratio_rate<window>`", f"share of bad requests over {ratios}"),
            (
                "`slo:sli_bad_requests:increase<window>`",
                f"bad requests counted over {', '.join(spec.long_windows)} (low-traffic guard)",
            ),
            (
                "`slo:sli_requests:rate5m`, `slo:sli_bad_requests:rate5m`",
                "requests and bad requests per second over 5m",
            ),
            (f"`slo:sli_error:ratio_rate{p}`", f"share of bad requests over {p} (5m rates summed)"),
            ("`slo:objective:ratio`, `slo:error_budget:ratio`", "the objective, 1 - objective"),
            (f"`slo:error_budget_remaining:ratio{p}`", "1 untouched, 0 spent, below 0 SLO missed"),
        ],
    )
    n = spec.min_bad_requests
    return f"""{BEGIN}
## SLO overview

Both SLOs cover API requests only (`handler=~"/api/.*"`): probes and `/metrics`
are never counted by the service, and `/docs` and `/openapi.json` are filtered
out. The window is {spec.period}.

| SLO | good request | objective | error budget |
|---|---|---|---|
{rows}

4xx responses (validation errors, wrong credentials, not found) are the
client's doing and count as good.

### Recording rules

`prometheus/rules/slo-recording.yaml` records, per `{{{spec.by}, slo}}`:

{recording_table}

### Burn-rate alerts

A burn rate of 1 spends the budget in exactly {spec.period}. A pair fires while
its long and its short window both burn faster than its factor: the long window
makes the burn significant, the short one shows it is still going on, so the
alert resolves soon after the cause is gone.

{pairs_table}

### Low traffic

A pair also needs at least **{n} bad requests in its long window**
(`slo:sli_bad_requests:increase<long window> >= {n}`), not a minimum request
rate. So a total outage pages at any traffic: at 5 requests per minute, {n} bad
requests take {seconds("1m") * n // 5 // 60} minutes, and the 1h/5m pair pages
within about {seconds("1m") * n // 5 // 60 + 4} minutes of the outage's start
(the unit tests in `prometheus/tests/slo-drills.test.yaml` play it out). One
stray error, or a few, never pages, however little traffic there is: below
{n} bad requests no pair fires.

### Absent SLI

`TasksApi<SLO>SLIAbsent` fires when the service is scraped (`up == 1`) but the
SLI's metric has had no series for {spec.absent_for}, although it had within the
last {spec.absent_lookback}: a rename by an upgrade or broken instrumentation,
which would otherwise silence every alert of that SLO.
{END}"""


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [header, tuple("---" for _ in header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def runbook_text(spec: Spec, current: str) -> str:
    """RUNBOOK.md with its generated section replaced."""
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        msg = f"{RUNBOOK.name} has no generated SLO section markers"
        raise ValueError(msg)
    return current[:start] + runbook_section(spec) + current[end + len(END) :]


def outputs(spec: Spec) -> dict[Path, str]:
    """Every generated file and its expected text."""
    return {
        RECORDING: recording_file(spec),
        ALERTS: alerts_file(spec),
        RUNBOOK: runbook_text(spec, RUNBOOK.read_text(encoding="utf-8")),
    }


def _dashboard_is_current() -> bool:
    sys.path.insert(0, str(OBSERVABILITY / "grafana"))
    import generate_dashboards

    return generate_dashboards.main(["--check"]) == 0


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with --check report which are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    parser.add_argument("--spec", type=Path, default=None, help="SLO spec (default slos.yaml)")
    args = parser.parse_args(argv)
    spec = load(args.spec) if args.spec else load()
    stale = []
    for path, text in outputs(spec).items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        sys.stderr.write(f"{path} is stale: run {Path(__file__).name}\n")
    if args.check and not _dashboard_is_current():
        stale.append(OBSERVABILITY / "grafana")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
