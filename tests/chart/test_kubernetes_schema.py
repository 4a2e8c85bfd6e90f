"""Every rendered object against the Kubernetes API schemas (kubernetes-validate, strict)
for the oldest supported and the newest known Kubernetes version. Custom resources
(ServiceMonitor, PrometheusRule, HTTPRoute, KEDA's ScaledObject) have no schema there:
they are checked against the JSON schemas in tests/chart/schemas/ instead."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.chart.conftest import VALUE_SETS
from tests.chart.tools import CHART_DIR, Manifest, find_object, parse_manifests, run

SCHEMAS_DIR = Path(__file__).parent / "schemas"
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
}


def _oldest_supported() -> str:
    # Chart.yaml says kubeVersion ">=X.Y.Z-0"; validate against exactly that minor.
    constraint = str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"])
    assert constraint.startswith(">="), constraint
    return constraint.removeprefix(">=").split("-")[0]


KUBERNETES_VERSIONS = [_oldest_supported(), latest_version()]


@cache
def _custom_schema(file_name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / file_name).read_text())
    return schema


def schema_errors(obj: Manifest, version: str) -> list[str]:
    """Why the object is invalid for that Kubernetes version (empty when valid)."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    custom = CUSTOM_KINDS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if custom is not None:
        validator = jsonschema.Draft202012Validator(_custom_schema(custom))
        return [
            f"{where}: {list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)
        ]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        # An unknown kind is a failure, never a silent pass.
        return [f"{where}: {error.message}"]
    return []


def test_oldest_supported_version_is_known_to_kubernetes_validate() -> None:
    assert _oldest_supported() == "1.27.0"
    assert kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
        _oldest_supported(),
        strict=True,
    )


def test_custom_schemas_are_valid_json_schemas() -> None:
    for file_name in CUSTOM_KINDS.values():
        jsonschema.Draft202012Validator.check_schema(_custom_schema(file_name))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_rendered_objects_match_the_api_schemas(
    rendered: dict[str, list[Manifest]], value_set: str, version: str
) -> None:
    problems = [p for obj in rendered[value_set] for p in schema_errors(obj, version)]
    assert problems == []


def test_the_value_sets_exercise_every_custom_kind(rendered: dict[str, list[Manifest]]) -> None:
    rendered_kinds = {(o["apiVersion"], o["kind"]) for objs in rendered.values() for o in objs}
    assert set(CUSTOM_KINDS) <= rendered_kinds


def test_strict_validation_rejects_an_unknown_field(default_objects: list[Manifest]) -> None:
    deployment = copy.deepcopy(find_object(default_objects, "Deployment", "tasks-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    problems = schema_errors(deployment, KUBERNETES_VERSIONS[0])
    assert len(problems) == 1 and "livenessprobe" in problems[0]


def test_validation_rejects_a_wrong_type(default_objects: list[Manifest]) -> None:
    service = copy.deepcopy(find_object(default_objects, "Service", "tasks-api"))
    service["spec"]["ports"][0]["port"] = "eight thousand"
    assert schema_errors(service, KUBERNETES_VERSIONS[-1])


def test_an_unknown_kind_is_reported_not_skipped() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert schema_errors(unknown, KUBERNETES_VERSIONS[-1]) != []


def test_custom_schema_rejects_a_misspelt_service_monitor_field(
    production_objects: list[Manifest],
) -> None:
    monitor = copy.deepcopy(find_object(production_objects, "ServiceMonitor", "tasks-api"))
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    problems = schema_errors(monitor, KUBERNETES_VERSIONS[-1])
    assert any("scrapeInterval" in p for p in problems)


def test_custom_schema_rejects_a_rule_that_is_both_alert_and_record(
    production_objects: list[Manifest],
) -> None:
    rule = copy.deepcopy(find_object(production_objects, "PrometheusRule", "tasks-api"))
    first = rule["spec"]["groups"][0]["rules"][0]
    first["alert"], first["record"] = "Both", "both:ratio"
    assert schema_errors(rule, KUBERNETES_VERSIONS[-1])


def test_custom_schema_rejects_a_bad_http_route_path_type(
    production_objects: list[Manifest],
) -> None:
    route = copy.deepcopy(find_object(production_objects, "HTTPRoute", "tasks-api"))
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    assert schema_errors(route, KUBERNETES_VERSIONS[-1])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_dev_postgres_matches_the_api_schemas(helm: Path, version: str) -> None:
    chart = CHART_DIR.parent / "deploy" / "dev" / "postgres"
    result = run([helm, "template", "postgres", chart, "--namespace", "tasks-api"])
    assert result.returncode == 0, result.stderr
    objects = parse_manifests(result.stdout)
    assert {o["kind"] for o in objects} == {"Secret", "Service", "Deployment"}
    assert [p for obj in objects for p in schema_errors(obj, version)] == []


def test_custom_schema_rejects_a_numeric_keda_threshold(
    rendered: dict[str, list[Manifest]],
) -> None:
    scaled = copy.deepcopy(find_object(rendered["cloudnativepg"], "ScaledObject", "tasks-api"))
    assert schema_errors(scaled, KUBERNETES_VERSIONS[-1]) == []
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 40
    assert any(
        "threshold" in p or "40" in p for p in schema_errors(scaled, KUBERNETES_VERSIONS[-1])
    )


def test_custom_schema_rejects_a_misspelt_keda_field(rendered: dict[str, list[Manifest]]) -> None:
    scaled = copy.deepcopy(find_object(rendered["cloudnativepg"], "ScaledObject", "tasks-api"))
    scaled["spec"]["minReplicas"] = 2
    assert any("minReplicas" in p for p in schema_errors(scaled, KUBERNETES_VERSIONS[-1]))
