"""Checks of the Prometheus rules, their promtool tests and the runbook.

Each check returns a list of human-readable problems (empty when all is well),
so a test can assert on it and show every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALERT_NAME = re.compile(r"^TasksApi[A-Z][A-Za-z0-9]*$")
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
SEVERITIES = frozenset({"critical", "warning", "info"})
RUNBOOK_URL_PREFIX = "https://github.com/tasks-api/tasks-api/blob/main/observability/RUNBOOK.md#"
# The Helm chart rewrites exactly this prefix to its grafana.url value.
DASHBOARD_URL_PREFIX = "http://localhost:3000/d/tasks-api-service/tasks-api-service"

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_NOT_ANCHOR_CHAR = re.compile(r"[^\w\- ]")
_RECORDED_NAME = re.compile(r"(?<![\w:])[a-z][a-z0-9_]*:[a-z0-9_:]+")


def github_anchor(heading: str) -> str:
    """Return the anchor GitHub derives from a heading text (before de-duplication)."""
    text = _LINK.sub(r"\1", heading).strip().lower()
    text = _NOT_ANCHOR_CHAR.sub("", text)
    return text.replace(" ", "-")


def markdown_anchors(markdown: str) -> set[str]:
    """Return every heading anchor of a Markdown document, as GitHub renders them.

    Headings inside fenced code blocks do not count; a repeated heading gets the
    suffixes -1, -2, ... like on GitHub.
    """
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            continue
        base = github_anchor(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def alert_problems(rule: Mapping[str, Any], anchors: set[str]) -> list[str]:
    """Return what is wrong with one alerting rule, given the runbook's anchors."""
    name = str(rule.get("alert", ""))
    problems: list[str] = []
    if not ALERT_NAME.match(name):
        problems.append(f"{name!r}: name must be CamelCase with the prefix TasksApi")
    if not str(rule.get("expr", "")).strip():
        problems.append(f"{name}: empty expr")
    labels: Mapping[str, Any] = rule.get("labels") or {}
    annotations: Mapping[str, Any] = rule.get("annotations") or {}
    severity = labels.get("severity")
    if severity not in SEVERITIES:
        problems.append(f"{name}: severity {severity!r} not in {sorted(SEVERITIES)}")
    summary = str(annotations.get("summary", "")).strip()
    if not summary:
        problems.append(f"{name}: missing summary")
    elif "{{" in summary:
        problems.append(f"{name}: summary must be a static sentence, not a template")
    description = str(annotations.get("description", ""))
    if not description.strip():
        problems.append(f"{name}: missing description")
    elif not re.search(r"\{\{[^}]*\$(labels|value)", description):
        problems.append(f"{name}: description must use $labels or $value")
    problems.extend(_runbook_problems(name, annotations.get("runbook_url"), anchors))
    dashboard_url = annotations.get("dashboard_url")
    if not dashboard_url:
        problems.append(f"{name}: missing dashboard_url")
    elif not str(dashboard_url).startswith(DASHBOARD_URL_PREFIX):
        problems.append(f"{name}: dashboard_url must start with {DASHBOARD_URL_PREFIX}")
    return problems


def _runbook_problems(name: str, url: object, anchors: set[str]) -> list[str]:
    if not url:
        return [f"{name}: missing runbook_url"]
    text = str(url)
    if not text.startswith(RUNBOOK_URL_PREFIX):
        return [f"{name}: runbook_url must start with {RUNBOOK_URL_PREFIX}"]
    anchor = text.removeprefix(RUNBOOK_URL_PREFIX)
    if anchor not in anchors:
        return [f"{name}: RUNBOOK.md has no section with anchor #{anchor}"]
    return []


def recording_rule_problems(rule: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with one recording rule."""
    name = str(rule.get("record", ""))
    problems: list[str] = []
    if not RECORD_NAME.match(name):
        problems.append(f"{name!r}: recording rule names follow level:metric:operation")
    if not str(rule.get("expr", "")).strip():
        problems.append(f"{name}: empty expr")
    return problems


@dataclass
class AlertCoverage:
    """Which alerts the promtool tests show firing, and which silent."""

    firing: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)


def alert_test_coverage(test_documents: Iterable[Mapping[str, Any]]) -> AlertCoverage:
    """Collect, from promtool test files, the alerts tested firing and tested silent."""
    coverage = AlertCoverage()
    for document in test_documents:
        for test in document.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                name = str(case.get("alertname", ""))
                if case.get("exp_alerts"):
                    coverage.firing.add(name)
                else:
                    coverage.silent.add(name)
    return coverage


def coverage_problems(alert_names: Iterable[str], coverage: AlertCoverage) -> list[str]:
    """Return the alerts that lack a firing or a not-firing test case."""
    problems: list[str] = []
    for name in sorted(set(alert_names)):
        if name not in coverage.firing:
            problems.append(f"{name}: no promtool test shows it firing")
        if name not in coverage.silent:
            problems.append(f"{name}: no promtool test shows it not firing")
    return problems


def recorded_names_in_tests(test_documents: Iterable[Mapping[str, Any]]) -> set[str]:
    """Return the recording-rule names that promql_expr_test cases query."""
    names: set[str] = set()
    for document in test_documents:
        for test in document.get("tests") or []:
            for case in test.get("promql_expr_test") or []:
                names.update(_RECORDED_NAME.findall(str(case.get("expr", ""))))
    return names


def untested_recording_rules(record_names: Iterable[str], tested: set[str]) -> list[str]:
    """Return the recording rules that no promql_expr_test queries."""
    return sorted(set(record_names) - tested)
