"""Optional objects: NetworkPolicy, routes, and the observability bundle from one source."""

from __future__ import annotations

from typing import Any

import yaml

from tests.chart.tools import RELEASE, REPO_ROOT, Manifest, find_object, of_kind

RULES_DIR = REPO_ROOT / "observability" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO_ROOT / "observability" / "grafana" / "dashboards"
GRAFANA_URL = "https://grafana.example.com"  # grafana.url of the production value set


def _rule_groups(grafana_url: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yaml")):
        text = path.read_text().replace("http://localhost:3000", grafana_url)
        groups += (yaml.safe_load(text) or {}).get("groups", [])
    return groups


def _policy(objects: list[Manifest], name: str = RELEASE) -> dict[str, Any]:
    spec: dict[str, Any] = find_object(objects, "NetworkPolicy", name)["spec"]
    return spec


def _rule_for_port(rules: list[dict[str, Any]], port: str) -> dict[str, Any]:
    (rule,) = [r for r in rules if any(p["port"] == port for p in r["ports"])]
    return rule


def test_metrics_port_only_admits_the_monitoring_namespace(
    production_objects: list[Manifest],
) -> None:
    rule = _rule_for_port(_policy(production_objects)["ingress"], "metrics")
    namespaces = [p for p in rule["from"] if "namespaceSelector" in p]
    assert namespaces == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    others = [p for p in rule["from"] if "namespaceSelector" not in p]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in others] == [
        "test"
    ]


def test_http_port_admits_only_the_configured_sources(production_objects: list[Manifest]) -> None:
    rule = _rule_for_port(_policy(production_objects)["ingress"], "http")
    selected = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in rule["from"]
        if "namespaceSelector" in p
    ]
    assert selected == ["ingress-nginx", "gateway-system"]


def test_egress_reaches_dns_database_and_otlp_only(production_objects: list[Manifest]) -> None:
    egress = _policy(production_objects)["egress"]
    ports = [sorted((p["port"], p["protocol"]) for p in rule["ports"]) for rule in egress]
    assert ports == [[(53, "TCP"), (53, "UDP")], [(5432, "TCP")], [(4318, "TCP")]]
    assert egress[1]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert _policy(production_objects)["policyTypes"] == ["Ingress", "Egress"]


def test_migration_and_test_pods_get_their_own_policies(
    production_objects: list[Manifest],
) -> None:
    migrate = _policy(production_objects, f"{RELEASE}-migrate")
    assert "ingress" not in migrate and migrate["policyTypes"] == ["Ingress", "Egress"]
    assert [r["ports"][0]["port"] for r in migrate["egress"]] == [53, 5432]
    tests = _policy(production_objects, f"{RELEASE}-test")
    assert [p["port"] for p in tests["egress"][1]["ports"]] == [8000, 9000]


def test_optional_objects_are_off_by_default(default_objects: list[Manifest]) -> None:
    kinds = {o["kind"] for o in default_objects}
    optional = {
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "Ingress",
        "HTTPRoute",
        "ServiceMonitor",
        "PrometheusRule",
    }
    assert kinds & optional == set()
    assert not [o for o in of_kind(default_objects, "ConfigMap") if "dashboard" in str(o)]


def test_routes_send_traffic_to_the_http_port_only(production_objects: list[Manifest]) -> None:
    ingress = find_object(production_objects, "Ingress", RELEASE)
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends == [{"name": RELEASE, "port": {"name": "http"}}]
    route = find_object(production_objects, "HTTPRoute", RELEASE)
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": RELEASE, "port": 8000}]


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


def test_prometheus_rule_is_the_rule_files_with_the_grafana_url(
    production_objects: list[Manifest],
) -> None:
    rule = find_object(production_objects, "PrometheusRule", RELEASE)
    expected = _rule_groups(GRAFANA_URL)
    assert expected, "no rule groups in observability/prometheus/rules"
    assert rule["spec"]["groups"] == expected


def test_no_dashboard_url_keeps_the_local_grafana(production_objects: list[Manifest]) -> None:
    text = yaml.safe_dump(find_object(production_objects, "PrometheusRule", RELEASE))
    assert "localhost:3000" not in text
    urls = [
        r["annotations"]["dashboard_url"]
        for g in find_object(production_objects, "PrometheusRule", RELEASE)["spec"]["groups"]
        for r in g["rules"]
        if "dashboard_url" in r.get("annotations", {})
    ]
    assert all(u.startswith(GRAFANA_URL + "/") for u in urls)


def test_rule_file_drift_would_be_seen(production_objects: list[Manifest]) -> None:
    rule = find_object(production_objects, "PrometheusRule", RELEASE)
    drifted = _rule_groups(GRAFANA_URL)
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
