"""Extension points, Service options, DNS egress, autoscaling on request rate, sizing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.chart.conftest import VALUE_SETS
from tests.chart.invariants import pod_specs
from tests.chart.test_kubernetes_schema import KUBERNETES_VERSIONS, schema_errors
from tests.chart.tools import (
    CHART_DIR,
    RELEASE,
    REPO_ROOT,
    Manifest,
    find_object,
    of_kind,
    parse_manifests,
    render_with,
    run,
)

DEFAULT = VALUE_SETS["default"]
NATIVE_SIDECAR = {
    "name": "cloud-sql-proxy",
    "image": "registry.example.com/cloud-sql-proxy:2.14.1",
    "restartPolicy": "Always",
    "args": ["--port=5432", "project:region:instance"],
}


def _pod(objects: list[Manifest], kind: str) -> dict[str, Any]:
    (obj,) = of_kind(objects, kind)
    owner = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
    spec: dict[str, Any] = owner["template"]["spec"]
    return spec


def test_extension_points_reach_the_api_migration_and_purge_pods(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["openshift"]
    api, job = _pod(objects, "Deployment"), _pod(objects, "Job")
    for spec in (api, job, _pod(objects, "CronJob")):
        main = spec["containers"][0]
        assert {
            "name": "trusted-ca",
            "configMap": {
                "name": "trusted-ca-bundle",
                "items": [{"key": "ca-bundle.crt", "path": "tls-ca-bundle.pem"}],
            },
        } in spec["volumes"]
        assert [m["name"] for m in main["volumeMounts"]] == ["tmp", "metrics", "trusted-ca"]
        assert {"configMapRef": {"name": "tasks-api-extra-settings", "optional": True}} in main[
            "envFrom"
        ]
        assert "SSL_CERT_FILE" in {e["name"] for e in main["env"]}
        assert [c["name"] for c in spec["initContainers"]] == ["wait-for-ca"]
        assert spec["nodeSelector"] == {"node-role.kubernetes.io/worker": ""}
    assert [c["name"] for c in api["containers"]] == ["api", "log-shipper"]
    assert [c["name"] for c in job["containers"]] == ["migrate"]
    # The migration Job keeps its inline settings: extraEnvFrom adds, never replaces.
    assert job["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "tasks-api-extra-settings", "optional": True}}
    ]


def test_common_labels_are_on_every_object_and_pod(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["openshift"]
    assert all(o["metadata"]["labels"]["app.openshift.io/runtime"] == "python" for o in objects), (
        "an object lacks commonLabels"
    )
    for where, _ in pod_specs(objects):
        kind, name = where.split("/")
        if kind != "Pod":
            spec = find_object(objects, kind, name)["spec"]
            if kind == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            assert spec["template"]["metadata"]["labels"]["app.openshift.io/runtime"] == "python"


def test_test_pods_are_scheduled_like_the_others(rendered: dict[str, list[Manifest]]) -> None:
    pods = of_kind(rendered["openshift"], "Pod")
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeSelector"] == {"node-role.kubernetes.io/worker": ""}
        assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
        assert "initContainers" not in pod["spec"] or all(
            c["name"].startswith("probe") for c in pod["spec"]["initContainers"]
        )


def test_a_native_sidecar_validates_on_the_newest_kubernetes(helm: Path) -> None:
    objects = render_with(helm, DEFAULT, initContainers=[NATIVE_SIDECAR])
    job = _pod(objects, "Job")
    assert job["initContainers"][0]["restartPolicy"] == "Always"
    deployment = find_object(objects, "Deployment", RELEASE)
    assert schema_errors(deployment, KUBERNETES_VERSIONS[-1]) == []
    # Kubernetes 1.27 (the oldest supported) has no native sidecars: the schema says so.
    assert schema_errors(deployment, KUBERNETES_VERSIONS[0])


def test_service_options_by_type(helm: Path) -> None:
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        "nodePort": 30080,
        "loadBalancerClass": "service.k8s.aws/nlb",
        "externalTrafficPolicy": "Local",
        "ipFamilyPolicy": "PreferDualStack",
        "ipFamilies": ["IPv6", "IPv4"],
        "annotations": {"team": "tasks"},
        "annotationsByType": {
            "LoadBalancer": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            "NodePort": {"only": "nodeport"},
        },
    }
    obj = find_object(render_with(helm, DEFAULT, service=service), "Service", RELEASE)
    spec = obj["spec"]
    assert obj["metadata"]["annotations"] == {
        "team": "tasks",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    }
    assert spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert spec["externalTrafficPolicy"] == "Local"
    assert spec["ipFamilies"] == ["IPv6", "IPv4"]
    assert spec["ports"][0]["nodePort"] == 30080 and "nodePort" not in spec["ports"][1]
    assert schema_errors(obj, KUBERNETES_VERSIONS[0]) == []


def test_cluster_ip_service_ignores_node_and_balancer_options(helm: Path) -> None:
    service = {"nodePort": 30080, "loadBalancerClass": "x", "externalTrafficPolicy": "Local"}
    spec = find_object(render_with(helm, DEFAULT, service=service), "Service", RELEASE)["spec"]
    assert spec["type"] == "ClusterIP"
    assert not {"loadBalancerClass", "externalTrafficPolicy"} & set(spec)
    assert all("nodePort" not in p for p in spec["ports"])


def test_route_labels(helm: Path) -> None:
    objects = render_with(
        helm,
        VALUE_SETS["production"],
        ingress={"labels": {"shard": "public"}},
        httpRoute={"labels": {"shard": "gateway"}},
    )
    assert find_object(objects, "Ingress", RELEASE)["metadata"]["labels"]["shard"] == "public"
    assert find_object(objects, "HTTPRoute", RELEASE)["metadata"]["labels"]["shard"] == "gateway"


def test_dns_egress_follows_the_openshift_values(rendered: dict[str, list[Manifest]]) -> None:
    policies = of_kind(rendered["openshift"], "NetworkPolicy")
    assert len(policies) == 4
    for policy in policies:
        dns = policy["spec"]["egress"][0]
        assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [
            (5353, "TCP"),
            (5353, "UDP"),
        ]
        (peer,) = dns["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "openshift-dns"
        }
        assert peer["podSelector"]["matchLabels"] == {
            "dns.operator.openshift.io/daemonset-dns": "default"
        }


def test_dns_egress_may_add_a_node_local_cache(helm: Path) -> None:
    objects = render_with(
        helm,
        VALUE_SETS["production"],
        networkPolicy={"egress": {"dns": {"cidrs": ["169.254.20.10/32"], "ports": [53]}}},
    )
    dns = find_object(objects, "NetworkPolicy", RELEASE)["spec"]["egress"][0]
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in dns["to"]


def test_host_is_a_value(helm: Path) -> None:
    objects = render_with(helm, DEFAULT, config={"host": "::"})
    assert find_object(objects, "ConfigMap", RELEASE)["data"]["HOST"] == "::"


def test_keda_scales_on_the_release_request_rate(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["cloudnativepg"]
    scaled = find_object(objects, "ScaledObject", RELEASE)
    assert not of_kind(objects, "HorizontalPodAutoscaler"), "KEDA makes its own HPA"
    assert "replicas" not in find_object(objects, "Deployment", RELEASE)["spec"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == RELEASE
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 10)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["threshold"] == "40"
    query = trigger["metadata"]["query"]
    assert 'namespace="tasks-api"' in query and f'service="{RELEASE}"' in query
    assert query.startswith("sum(rate(http_requests_total{")


def test_the_adapter_hpa_targets_requests_per_pod(production_objects: list[Manifest]) -> None:
    hpa = find_object(production_objects, "HorizontalPodAutoscaler", RELEASE)
    pods = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "tasks_api_http_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "40"},
            },
        }
    ]


def _replicas(helm: Path, tmp_path: Path, autoscaling: bool, live: str) -> str:
    # lookup needs a cluster; a throwaway template hands the helper a live object instead.
    chart = tmp_path / "tasks-api"
    shutil.copytree(CHART_DIR, chart, symlinks=False)
    (chart / "templates" / "zz-replicas.yaml").write_text(
        'replicas: {{ include "tasks-api.replicas" (dict "root" . "live" '
        f"({live})) | quote }}}}\n"
    )
    result = run(
        [
            helm,
            "template",
            "t",
            chart,
            "-f",
            DEFAULT,
            "--set",
            f"autoscaling.enabled={autoscaling}",
            "--show-only",
            "templates/zz-replicas.yaml",
        ]
    )
    assert result.returncode == 0, result.stderr
    value: str = parse_manifests(result.stdout)[0]["replicas"]
    return value


def test_upgrading_into_autoscaling_keeps_the_live_replica_count(
    helm: Path, tmp_path: Path
) -> None:
    live = 'dict "spec" (dict "replicas" 7)'
    assert _replicas(helm, tmp_path / "a", autoscaling=True, live=live) == "7"
    assert _replicas(helm, tmp_path / "b", autoscaling=True, live="dict") == ""
    assert _replicas(helm, tmp_path / "c", autoscaling=False, live=live) == "2"


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * (1024 if unit == "Gi" else 1)


def test_production_memory_follows_the_readme_sizing_rule(
    production_objects: list[Manifest],
) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "a worker needs about 110 MiB plus this many times 64 MiB" in readme
    values = yaml.safe_load(VALUE_SETS["production"].read_text())
    workers = values["config"]["webConcurrency"]
    hashes = values["config"].get("passwordHashConcurrency", 1)
    peak, idle = 90 + workers * (110 + hashes * 64), 90 + workers * 110
    resources = _pod(production_objects, "Deployment")["containers"][0]["resources"]
    assert _mebibytes(resources["limits"]["memory"]) >= peak
    assert _mebibytes(resources["requests"]["memory"]) >= idle
    # A memory target the idle pods already exceed would pin the HPA at maxReplicas.
    hpa = find_object(production_objects, "HorizontalPodAutoscaler", RELEASE)
    for metric in hpa["spec"]["metrics"]:
        if metric.get("resource", {}).get("name") == "memory":
            target = metric["resource"]["target"]["averageUtilization"] / 100
            assert target * _mebibytes(resources["requests"]["memory"]) > idle
