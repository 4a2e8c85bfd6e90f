"""PromQL of the observability bundle, ready to run against a live Prometheus.

`dashboard_queries` returns every panel query of a dashboard with its Grafana
variables replaced by concrete values; `recording_rule_exprs` returns every
recording rule of the rules folder. Offline tests check their structure; a live
test runs them against a Prometheus that scrapes the real service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

# Grafana variables and the value each takes in a live test.
# "All" is .* (cluster, pod); a variable with no values at all, as namespace
# on a Prometheus without that label, is empty and matches a missing label.
LIVE_VARIABLES: Mapping[str, str] = {
    "cluster": ".*",
    "namespace": "",
    "job": "tasks-api",
    "pod": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "5m",
}

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute_variables(expr: str, values: Mapping[str, str] = LIVE_VARIABLES) -> str:
    """Replace ``$name`` and ``${name}`` in ``expr``; an unknown variable is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            msg = f"unknown variable ${name} in {expr!r}"
            raise ValueError(msg)
        return values[name]

    return _VARIABLE.sub(replace, expr)


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Yield every panel, including panels nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from iter_panels(panel)


def panel_exprs(dashboard: Mapping[str, Any]) -> list[str]:
    """Return the raw PromQL of every panel target, in dashboard order."""
    return [
        str(target["expr"])
        for panel in iter_panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def load_dashboard(path: Path) -> dict[str, Any]:
    """Parse a dashboard JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        msg = f"{path}: a dashboard is a JSON object"
        raise TypeError(msg)
    return data


def dashboard_queries(path: Path) -> list[str]:
    """Return every panel PromQL expression of the dashboard at ``path``, variables substituted.

    ``$job`` becomes ``tasks-api``, ``$cluster`` and ``$pod`` ``.*``,
    ``$namespace`` empty, ``$__rate_interval`` and ``$__interval`` ``1m``,
    ``$__range`` ``5m``.
    """
    return [substitute_variables(expr) for expr in panel_exprs(load_dashboard(Path(path)))]


def load_rule_groups(path: Path) -> list[dict[str, Any]]:
    """Return the rule groups of one Prometheus rule file (``groups: [...]``)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        msg = f"{path}: not a Prometheus rule file (no 'groups' list)"
        raise TypeError(msg)
    return list(document["groups"])


def rule_files(rules_dir: Path) -> list[Path]:
    """Return the rule files of a folder, sorted by name."""
    files = sorted([*rules_dir.glob("*.yaml"), *rules_dir.glob("*.yml")])
    if not files:
        msg = f"no rule files in {rules_dir}"
        raise ValueError(msg)
    return files


def iter_rules(rules_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield every rule (recording and alerting) of every rule file in ``rules_dir``."""
    for path in rule_files(Path(rules_dir)):
        for group in load_rule_groups(path):
            yield from group.get("rules", [])


def recording_rule_exprs(rules_dir: Path) -> list[tuple[str, str]]:
    """Return ``(record name, expr)`` of every recording rule in ``rules_dir``."""
    return [
        (str(rule["record"]), str(rule["expr"]).strip())
        for rule in iter_rules(rules_dir)
        if "record" in rule
    ]


def alerting_rules(rules_dir: Path) -> list[dict[str, Any]]:
    """Return every alerting rule in ``rules_dir``."""
    return [rule for rule in iter_rules(rules_dir) if "alert" in rule]
