"""Optional objects: NetworkPolicy and routes (monitoring objects: test_observability_objects)."""

from __future__ import annotations

from typing import Any

from tests.chart.tools import RELEASE, Manifest, find_object, of_kind


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
    # The API goes through PgBouncer (6432), migrations straight to PostgreSQL (5432).
    assert ports == [[(53, "TCP"), (53, "UDP")], [(5432, "TCP"), (6432, "TCP")], [(4318, "TCP")]]
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
