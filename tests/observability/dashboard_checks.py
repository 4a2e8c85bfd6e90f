"""Checks of the Grafana dashboard JSON and of the PromQL in its panels.

Each check returns a list of human-readable problems (empty when all is well).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from tests.observability.promql import iter_panels

DATASOURCE_REF: Mapping[str, str] = {"type": "prometheus", "uid": "${datasource}"}
# What each kind of series must filter on: recording rules carry no pod, and
# Tempo's span metrics carry resource attributes instead of scrape labels.
RECORDED_MATCHERS = ('cluster=~"$cluster"', 'namespace=~"$namespace"', 'job=~"$job"')
RAW_MATCHERS = (*RECORDED_MATCHERS, 'pod=~"$pod"')
SPAN_METRIC_MATCHERS = ('service=~"$job"', 'k8s_namespace_name=~"$namespace"')
REQUIRED_VARIABLES = ("datasource", "cluster", "namespace", "job", "pod")
# Series whose histogram buckets carry exemplars (trace ids): Tempo's metrics
# generator derives them from the traces it stores. prometheus_client in
# multiprocess mode writes none, so the scraped histograms never have any.
EXEMPLAR_SOURCES = ("traces_spanmetrics_",)

# A metric selector: an optional metric name followed by {label matchers}.
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^{}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)


def metric_selectors(expr: str) -> list[tuple[str, str]]:
    """Return ``(metric name, matchers)`` of every ``name{...}`` selector in ``expr``."""
    return [(match.group(1) or "", match.group(2)) for match in _SELECTOR.finditer(expr)]


def bare_metric_names(expr: str) -> list[str]:
    """Return metric names used without any label matcher (``up`` instead of ``up{...}``)."""
    text = _SELECTOR.sub(" 0 ", expr)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    names: list[str] = []
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group(0).lower() in _KEYWORDS:
            continue
        names.append(match.group(0))
    return names


def required_matchers(name: str) -> tuple[str, ...]:
    """The variable matchers a selector of metric ``name`` must have."""
    if name.startswith(EXEMPLAR_SOURCES):
        return SPAN_METRIC_MATCHERS
    return RECORDED_MATCHERS if ":" in name else RAW_MATCHERS


def selector_problems(expr: str) -> list[str]:
    """Return the selectors of ``expr`` that do not filter on the dashboard variables.

    Raw metrics need cluster, namespace, job and pod; recording rules (names
    with a colon) all but pod; Tempo's span metrics the service and namespace.
    """
    problems: list[str] = []
    selectors = metric_selectors(expr)
    if not selectors:
        problems.append(f"no metric selector in {expr!r}")
    for name, matchers in selectors:
        if not name:
            problems.append(f"selector {{{matchers}}} has no metric name")
        compact = re.sub(r"\s+", "", matchers)
        required = required_matchers(name)
        problems.extend(
            f"{name or '{...}'}: missing {matcher}"
            for matcher in required
            if matcher.replace(" ", "") not in compact
        )
    problems.extend(f"{name}: no label matchers" for name in bare_metric_names(expr))
    return problems


def panel_problems(panel: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with one non-row panel."""
    title = str(panel.get("title", "")).strip()
    where = f"panel {title or panel.get('id')!r}"
    problems: list[str] = []
    if not title:
        problems.append(f"{where}: missing title")
    if not str(panel.get("description", "")).strip():
        problems.append(f"{where}: missing description")
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    if not str(defaults.get("unit", "")).strip():
        problems.append(f"{where}: missing unit")
    if panel.get("datasource") != DATASOURCE_REF:
        problems.append(f"{where}: datasource must be {dict(DATASOURCE_REF)}")
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"{where}: no queries")
    for target in targets:
        ref = target.get("refId", "?")
        if target.get("datasource") != DATASOURCE_REF:
            problems.append(f"{where} query {ref}: datasource must be {dict(DATASOURCE_REF)}")
        expr = str(target.get("expr", "")).strip()
        if not expr:
            problems.append(f"{where} query {ref}: empty expr")
            continue
        problems.extend(f"{where} query {ref}: {p}" for p in selector_problems(expr))
    return problems


def _walk(node: object, path: str) -> Iterator[tuple[str, str, object]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield path, str(key), value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{path}[{index}]")


def datasource_uid_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """Return every datasource reference that is not the ``${datasource}`` variable."""
    problems: list[str] = []
    for path, key, value in _walk(dashboard, "$"):
        if key == "datasource":
            uid = value.get("uid") if isinstance(value, Mapping) else value
            if uid not in ("${datasource}", "$datasource"):
                problems.append(f"{path}.datasource: hard-coded datasource {value!r}")
        elif key == "datasourceUid":
            problems.append(f"{path}.datasourceUid: hard-coded datasource uid {value!r}")
    return problems


def variable_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """Return what is missing from the datasource, cluster, namespace, job and pod variables."""
    variables = {
        str(variable.get("name")): variable
        for variable in (dashboard.get("templating") or {}).get("list", [])
    }
    problems = [
        f"missing template variable {name!r}"
        for name in REQUIRED_VARIABLES
        if name not in variables
    ]
    datasource = variables.get("datasource")
    if datasource is not None and (
        datasource.get("type") != "datasource" or datasource.get("query") != "prometheus"
    ):
        problems.append("variable 'datasource' must be of type datasource for prometheus")
    for name in REQUIRED_VARIABLES[1:]:
        variable = variables.get(name)
        if variable is not None and variable.get("datasource") != DATASOURCE_REF:
            problems.append(f"variable {name!r} must query the ${{datasource}} variable")
    return problems


def dashboard_problems(dashboard: Mapping[str, Any], uid: str) -> list[str]:
    """Return every problem of a dashboard: uid, variables, datasources and panels."""
    problems: list[str] = []
    if dashboard.get("uid") != uid:
        problems.append(f"uid is {dashboard.get('uid')!r}, expected {uid!r}")
    if not str(dashboard.get("title", "")).strip():
        problems.append("dashboard has no title")
    problems.extend(variable_problems(dashboard))
    problems.extend(datasource_uid_problems(dashboard))
    panels = [panel for panel in iter_panels(dashboard) if panel.get("type") != "row"]
    if not panels:
        problems.append("dashboard has no panels")
    for panel in panels:
        problems.extend(panel_problems(panel))
    problems.extend(exemplar_problems(dashboard))
    problems.extend(ratio_fallback_problems(dashboard))
    ids = [panel.get("id") for panel in iter_panels(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append("panel ids are not unique")
    return problems


def exemplar_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """Return queries with exemplars on that read a series which cannot carry any."""
    problems: list[str] = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets") or []:
            if not target.get("exemplar"):
                continue
            names = [name for name, _ in metric_selectors(str(target.get("expr", "")))]
            problems.extend(
                f"panel {panel.get('title')!r}: {name} carries no exemplars"
                for name in names
                if not name.startswith(EXEMPLAR_SOURCES)
            )
            if not names:
                problems.append(
                    f"panel {panel.get('title')!r}: exemplars on a query without series"
                )
    return problems


_ERROR_RATIO = re.compile(r'status=~"[45]\.\."')


def ratio_fallback_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """Return error-ratio queries that have no series (instead of 0) while there are no errors."""
    return [
        f"panel {panel.get('title')!r}: {target.get('expr')!r} has no 'or 0 *' fallback"
        for panel in iter_panels(dashboard)
        for target in panel.get("targets") or []
        if _ERROR_RATIO.search(str(target.get("expr", "")))
        and "/" in str(target.get("expr", ""))
        and " or 0 * " not in str(target.get("expr", ""))
    ]
