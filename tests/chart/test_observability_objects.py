"""ServiceMonitor, PrometheusRule and dashboards: the bundle's files, parameterised per release."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import (
    CHART_DIR,
    NAMESPACE,
    RELEASE,
    REPO_ROOT,
    VALUE_SETS_DIR,
    Manifest,
    find_object,
    helm_template,
    of_kind,
    parse_manifests,
    run,
)

RULES_DIR = REPO_ROOT / "observability" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO_ROOT / "observability" / "grafana" / "dashboards"
PRODUCTION = VALUE_SETS_DIR / "production-values.yaml"
GRAFANA_URL = "https://grafana.example.com"  # grafana.url of the production value set
RUNBOOK = "https://github.com/tasks-api/tasks-api/blob/main/observability/RUNBOOK.md"
RAW_SELECTOR = 'job="tasks-api"'
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_AGGREGATION = re.compile(r"\b(?:sum|min|max|count) by \(([^()]*)\)")


def _rule_groups(selector: str, grafana_url: str, runbook: str) -> list[dict[str, Any]]:
    """The rule files with the three replacements the chart makes."""
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yaml")):
        text = path.read_text().replace(RAW_SELECTOR, selector)
        text = text.replace("http://localhost:3000", grafana_url).replace(RUNBOOK, runbook)
        groups += (yaml.safe_load(text) or {}).get("groups", [])
    return groups


def _rules(objects: list[Manifest], name: str = RELEASE) -> list[dict[str, Any]]:
    groups = find_object(objects, "PrometheusRule", name)["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _selectors(rules: list[dict[str, Any]]) -> list[str]:
    """Every label-matcher block of every expression that selects on job."""
    return [
        block
        for rule in rules
        for block in _SELECTOR.findall(str(rule["expr"]))
        if "job=" in block and "$labels" not in block
    ]


def _other_release(helm: Path, release: str, namespace: str, *sets: str) -> list[Manifest]:
    command: list[str | Path] = [helm, "template", release, CHART_DIR, "--namespace", namespace]
    command += ["--values", PRODUCTION]
    for assignment in sets:
        command += ["--set", assignment]
    result = run(command)
    assert result.returncode == 0, result.stderr
    return parse_manifests(result.stdout)


def test_prometheus_rule_is_the_rule_files_with_the_release_selector_and_urls(
    production_objects: list[Manifest],
) -> None:
    rule = find_object(production_objects, "PrometheusRule", RELEASE)
    selector = f'job="tasks-api", namespace="{NAMESPACE}", service="{RELEASE}"'
    expected = _rule_groups(selector, GRAFANA_URL, RUNBOOK)
    assert expected, "no rule groups in observability/prometheus/rules"
    assert rule["spec"]["groups"] == expected


def test_every_rule_selects_only_this_releases_series(production_objects: list[Manifest]) -> None:
    selectors = _selectors(_rules(production_objects))
    assert len(selectors) > 50
    bare = [s for s in selectors if f'namespace="{NAMESPACE}"' not in s or "service=" not in s]
    assert bare == []


def test_two_releases_evaluate_disjoint_series(helm: Path) -> None:
    staging = _rules(_other_release(helm, "staging", "tasks-staging"), "staging-tasks-api")
    prod = _rules(_other_release(helm, "prod", "tasks-prod"), "prod-tasks-api")
    assert all(
        'namespace="tasks-staging", service="staging-tasks-api"' in s for s in _selectors(staging)
    )
    assert all('namespace="tasks-prod", service="prod-tasks-api"' in s for s in _selectors(prod))


def test_aggregations_keep_cluster_namespace_job_and_service(
    production_objects: list[Manifest],
) -> None:
    groupings = [
        group.split(", ")
        for rule in _rules(production_objects)
        for group in _AGGREGATION.findall(str(rule["expr"]))
    ]
    assert groupings
    missing = [g for g in groupings if not {"cluster", "namespace", "job", "service"} <= set(g)]
    assert missing == []


def test_selector_and_runbook_base_are_values(helm: Path) -> None:
    objects = _other_release(
        helm,
        RELEASE,
        NAMESPACE,
        'prometheusRule.selector=job="payments-tasks"\\, env="prod"',
        "prometheusRule.runbookUrl=https://wiki.example.com/tasks-api/runbook",
    )
    rules = _rules(objects)
    assert all('job="payments-tasks", env="prod"' in s for s in _selectors(rules))
    urls = {str(r["annotations"]["runbook_url"]) for r in rules if "alert" in r}
    assert all(u.startswith("https://wiki.example.com/tasks-api/runbook#tasksapi") for u in urls)
    assert not any("github.com" in u for u in urls)


def test_no_alert_keeps_the_local_grafana_or_the_default_runbook(helm: Path) -> None:
    rules = _rules(
        _other_release(helm, RELEASE, NAMESPACE, f"prometheusRule.runbookUrl={GRAFANA_URL}/rb")
    )
    annotations = [r["annotations"] for r in rules if "alert" in r]
    assert all(a["dashboard_url"].startswith(GRAFANA_URL + "/d/") for a in annotations)
    assert all("var-namespace=" in a["dashboard_url"] for a in annotations)
    assert all(a["runbook_url"].startswith(GRAFANA_URL + "/rb#") for a in annotations)


def test_rules_dashboards_and_monitor_go_to_their_namespaces(helm: Path) -> None:
    objects = _other_release(
        helm,
        RELEASE,
        NAMESPACE,
        "prometheusRule.namespace=monitoring",
        "dashboards.namespace=grafana",
        "serviceMonitor.namespace=monitoring",
    )
    assert find_object(objects, "PrometheusRule", RELEASE)["metadata"]["namespace"] == "monitoring"
    monitor = find_object(objects, "ServiceMonitor", RELEASE)
    assert monitor["metadata"]["namespace"] == "monitoring"
    # The monitor still scrapes the release's own namespace, the rules its series.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert all(f'namespace="{NAMESPACE}"' in s for s in _selectors(_rules(objects)))
    maps = _dashboard_maps(objects)
    assert maps and {m["metadata"]["namespace"] for m in maps.values()} == {"grafana"}


def test_objects_default_to_the_release_namespace(production_objects: list[Manifest]) -> None:
    for kind in ("PrometheusRule", "ServiceMonitor"):
        assert find_object(production_objects, kind, RELEASE)["metadata"]["namespace"] == NAMESPACE
    assert {m["metadata"]["namespace"] for m in _dashboard_maps(production_objects).values()} == {
        NAMESPACE
    }


@pytest.mark.parametrize(
    "assignment",
    [
        "prometheusRule.selector=job",  # not a label matcher
        'prometheusRule.selector=job="a"} or vector(1) or up{x="y"',  # PromQL injection
        "prometheusRule.namespace=Monitoring_NS",
        "dashboards.namespace=-grafana",
        "prometheusRule.runbookUrl=wiki/runbook",
        "prometheusRule.runbookUrl=https://wiki.example.com/runbook#section",
    ],
)
def test_schema_rejects_malformed_observability_values(helm: Path, assignment: str) -> None:
    result = helm_template(
        helm, values_files=[PRODUCTION], set_values=[assignment], extra=["--show-only", "x"]
    )
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


def test_service_monitor_scrapes_the_metrics_port_as_job_tasks_api(
    production_objects: list[Manifest],
) -> None:
    monitor = find_object(production_objects, "ServiceMonitor", RELEASE)
    service = find_object(production_objects, "Service", RELEASE)
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # job = value of the Service label named by jobLabel: "tasks-api" for any release name.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "tasks-api"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()


def test_rule_file_drift_would_be_seen(production_objects: list[Manifest]) -> None:
    rule = find_object(production_objects, "PrometheusRule", RELEASE)
    drifted = _rule_groups(
        f'job="tasks-api", namespace="{NAMESPACE}", service="{RELEASE}"', GRAFANA_URL, RUNBOOK
    )
    drifted[0]["rules"][0]["expr"] = "vector(1)"
    assert rule["spec"]["groups"] != drifted


def _dashboard_maps(objects: list[Manifest]) -> dict[str, Manifest]:
    return {
        key: obj
        for obj in of_kind(objects, "ConfigMap")
        if obj["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboards"
        for key in obj["data"]
    }


def test_dashboards_are_the_dashboard_files(production_objects: list[Manifest]) -> None:
    maps = _dashboard_maps(production_objects)
    files = {p.name: p for p in sorted(DASHBOARDS_DIR.glob("*.json"))}
    assert files, "no dashboards in observability/grafana/dashboards"
    assert set(maps) == set(files)
    for name, path in files.items():
        assert maps[name]["data"][name] == path.read_text().rstrip("\n")
        assert maps[name]["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert maps[name]["metadata"]["annotations"] == {"grafana_folder": "tasks-api"}


def test_dashboards_and_rules_follow_their_toggles(rendered: dict[str, list[Manifest]]) -> None:
    argocd = rendered["argocd"]  # serviceMonitor only
    assert of_kind(argocd, "ServiceMonitor")
    assert not of_kind(argocd, "PrometheusRule")
    assert not _dashboard_maps(argocd)
