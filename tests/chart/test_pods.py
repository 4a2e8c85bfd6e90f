"""Pod-level invariants of the rendered chart: security, probes, ports, drain, env."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.invariants import (
    api_probe_violations,
    containers,
    env_names,
    grace_violations,
    pod_specs,
    restricted_violations,
)
from tests.chart.tools import NAMESPACE, RELEASE, Manifest, find_object, of_kind, render

DOWNWARD_ENV = {"K8S_POD_NAME", "K8S_POD_UID", "K8S_NAMESPACE_NAME", "K8S_NODE_NAME"}
API_IDENTITY_ENV = {"K8S_DEPLOYMENT_NAME", "K8S_CONTAINER_NAME"}


def _deployment(objects: list[Manifest]) -> Manifest:
    return find_object(objects, "Deployment", RELEASE)


def _config(objects: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = find_object(objects, "ConfigMap", RELEASE)["data"]
    return data


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_pod_spec_is_restricted(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    specs = dict(pod_specs(rendered[value_set]))
    # The API, the migration Job, the purge CronJob and both helm test pods: the check
    # cannot pass vacuously.
    assert {k.split("/")[0] for k in specs} == {"Deployment", "Job", "CronJob", "Pod"}
    assert len(specs) == 5
    problems = [p for where, spec in specs.items() for p in restricted_violations(where, spec)]
    assert problems == []


def test_restricted_check_flags_a_privileged_container(default_objects: list[Manifest]) -> None:
    spec = copy.deepcopy(_deployment(default_objects)["spec"]["template"]["spec"])
    spec["containers"][0]["securityContext"]["privileged"] = True
    spec["containers"][0]["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
    problems = restricted_violations("api", spec)
    assert any("privileged" in p for p in problems)
    assert any("SYS_ADMIN" in p for p in problems)


def test_restricted_check_flags_a_missing_pod_security_context(
    default_objects: list[Manifest],
) -> None:
    spec = copy.deepcopy(_deployment(default_objects)["spec"]["template"]["spec"])
    del spec["securityContext"]
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    problems = restricted_violations("api", spec)
    assert any("runAsNonRoot" in p for p in problems)
    assert any("seccompProfile" in p for p in problems)
    assert any("hostPath" in p for p in problems)


def test_restricted_check_flags_unpinned_images_and_missing_limits(
    default_objects: list[Manifest],
) -> None:
    spec = copy.deepcopy(_deployment(default_objects)["spec"]["template"]["spec"])
    spec["containers"][0]["image"] = "ghcr.io/tasks-api/tasks-api:latest"
    del spec["containers"][0]["resources"]["limits"]
    problems = restricted_violations("api", spec)
    assert any("no pinned tag" in p for p in problems)
    assert any("limits.memory" in p for p in problems)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_api_probes_and_ports_match_the_service(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    assert api_probe_violations(_deployment(rendered[value_set])) == []


def test_probe_check_flags_a_wrong_path_or_port(default_objects: list[Manifest]) -> None:
    deployment = copy.deepcopy(_deployment(default_objects))
    api = deployment["spec"]["template"]["spec"]["containers"][0]
    api["readinessProbe"]["httpGet"]["path"] = "/healthz"
    api["livenessProbe"]["httpGet"]["port"] = "metrics"
    problems = api_probe_violations(deployment)
    assert "readinessProbe checks /healthz, not /readyz" in problems
    assert "livenessProbe uses port metrics, not the http port" in problems


def test_probe_check_flags_a_prestop_sleep_and_missing_probe(
    default_objects: list[Manifest],
) -> None:
    deployment = copy.deepcopy(_deployment(default_objects))
    api = deployment["spec"]["template"]["spec"]["containers"][0]
    api["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    del api["startupProbe"]
    problems = api_probe_violations(deployment)
    assert any("preStop" in p for p in problems)
    assert "startupProbe is not an httpGet probe" in problems


def test_service_routes_both_ports_by_name(default_objects: list[Manifest]) -> None:
    service = find_object(default_objects, "Service", RELEASE)
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (8000, "http"), "metrics": (9000, "metrics")}
    selector = service["spec"]["selector"]
    assert (
        selector.items() <= _deployment(default_objects)["spec"]["selector"]["matchLabels"].items()
    )


def test_helm_test_pods_probe_the_service(default_objects: list[Manifest]) -> None:
    urls = []
    for pod in of_kind(default_objects, "Pod"):
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        for container in containers(pod["spec"]):
            assert container["args"][0] == "probe"
            assert container["image"] == _image(default_objects)
            urls.append(container["args"][1])
    base = f"http://{RELEASE}.tasks-api.svc"
    assert sorted(urls) == [f"{base}:8000/healthz", f"{base}:8000/readyz", f"{base}:9000/metrics"]


def _image(objects: list[Manifest]) -> str:
    image: str = _deployment(objects)["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_grace_period_exceeds_drain_plus_graceful_timeout(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    objects = rendered[value_set]
    assert grace_violations(_deployment(objects), _config(objects)) == []


def test_grace_check_flags_a_period_equal_to_drain_plus_graceful(
    default_objects: list[Manifest],
) -> None:
    deployment = copy.deepcopy(_deployment(default_objects))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 25
    assert grace_violations(
        deployment, {"DRAIN_DELAY_SECONDS": "5", "GRACEFUL_TIMEOUT_SECONDS": "20"}
    )


def test_grace_check_flags_a_missing_period(default_objects: list[Manifest]) -> None:
    deployment = copy.deepcopy(_deployment(default_objects))
    del deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_violations(deployment, _config(default_objects))


def test_rollout_never_drops_below_the_desired_replicas(default_objects: list[Manifest]) -> None:
    spec = _deployment(default_objects)["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["replicas"] == 2
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }


def test_autoscaling_leaves_replicas_to_the_hpa(production_objects: list[Manifest]) -> None:
    assert "replicas" not in _deployment(production_objects)["spec"]
    hpa = find_object(production_objects, "HorizontalPodAutoscaler", RELEASE)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": RELEASE,
    }


def test_writable_paths_are_empty_dirs(default_objects: list[Manifest]) -> None:
    spec = _deployment(default_objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/run/tasks-api/metrics"}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    assert _config(default_objects)["PROMETHEUS_MULTIPROC_DIR"] == "/run/tasks-api/metrics"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_api_and_migrations_get_the_downward_api_env(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    for kind in ("Deployment", "Job"):
        (obj,) = of_kind(rendered[value_set], kind)
        container = obj["spec"]["template"]["spec"]["containers"][0]
        assert env_names(container) >= DOWNWARD_ENV, kind


def test_api_pods_name_their_deployment_and_container(default_objects: list[Manifest]) -> None:
    deployment = _deployment(default_objects)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["K8S_POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert env["K8S_DEPLOYMENT_NAME"]["value"] == deployment["metadata"]["name"]
    assert env["K8S_CONTAINER_NAME"]["value"] == container["name"]
    # The migration Job is no Deployment's pod: it must not claim one.
    (job,) = of_kind(default_objects, "Job")
    assert not env_names(job["spec"]["template"]["spec"]["containers"][0]) & API_IDENTITY_ENV


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_service_namespace_is_never_the_kubernetes_namespace(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    objects = rendered[value_set]
    attributes = dict(
        pair.split("=", 1) for pair in _config(objects)["OTEL_RESOURCE_ATTRIBUTES"].split(",")
    )
    assert attributes["deployment.environment.name"]
    assert "deployment.environment" not in attributes, "the deprecated name"
    # Rendered with --namespace tasks-api: the old template wrote exactly that.
    assert attributes.get("service.namespace") != NAMESPACE


def test_otel_settings_reach_the_config(production_objects: list[Manifest]) -> None:
    config = _config(production_objects)
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability.svc:4318"
    assert config["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert config["OTEL_TRACES_SAMPLER_ARG"] == "0.05"
    assert config["OTEL_METRIC_EXPORT_INTERVAL"] == "30000"
    assert "service.owner=platform" in config["OTEL_RESOURCE_ATTRIBUTES"].split(",")
    assert config["WEB_CONCURRENCY"] == "4"


def test_no_otlp_endpoint_means_no_export(default_objects: list[Manifest]) -> None:
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in _config(default_objects)


def test_checksums_follow_config_and_secret(helm: Path, default_objects: list[Manifest]) -> None:
    def checksums(objects: list[Manifest]) -> tuple[str, str]:
        annotations = _deployment(objects)["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"], annotations["checksum/secret"]

    config, secret = checksums(default_objects)
    values = [VALUE_SETS["default"]]
    new_config = checksums(render(helm, values_files=values, set_values=["config.logLevel=DEBUG"]))
    new_secret = checksums(
        render(helm, values_files=values, set_values=["secret.jwtSecret=" + "x" * 40])
    )
    assert new_config[0] != config and new_config[1] == secret
    assert new_secret[0] == config and new_secret[1] != secret
