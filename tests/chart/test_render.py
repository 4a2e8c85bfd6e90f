"""helm lint / template / package of the chart, and what its values schema refuses."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.tools import (
    CHART_DIR,
    REPO_ROOT,
    VALUE_SETS_DIR,
    Manifest,
    helm_template,
    parse_manifests,
    run,
    set_json,
)

DEFAULT_VALUES = VALUE_SETS["default"]
CONTAINER = {"name": "x", "image": "registry.example.com/x:1"}
# What values.schema.json refuses, as (values merged over the default set, what helm names):
# the one list of schema rejections; helm template and helm lint apply the same schema.
SCHEMA_REJECTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": ({"replicaCount": "two"}, "replicaCount"),
    "unknown top-level key": ({"replicas": 3}, "replicas"),
    "unknown nested key": ({"config": {"workers": 3}}, "workers"),
    "value outside an enum": ({"environment": "prod"}, "environment"),
    "latest tag": ({"image": {"tag": "latest"}}, "tag"),
    "bad released digest": ({"image": {"appVersionDigest": "sha256:abc"}}, "appVersionDigest"),
    "reserved OTEL variable": ({"otel": {"extraEnv": {"PATH": "/x"}}}, "PATH"),
    "negative backoff": ({"migrations": {"backoffLimit": -1}}, "backoffLimit"),
    "database URL of another driver": (
        {"secret": {"databaseUrl": "mysql://x@db/x"}},
        "databaseUrl",
    ),
    "secret key with a slash": (
        {"secret": {"existingSecretKeys": {"databaseUrl": "a/b"}}},
        "databaseUrl",
    ),
    "extraEnv without a name": ({"extraEnv": [{"value": "x"}]}, "name"),
    "extraEnvFrom of an unknown kind": ({"extraEnvFrom": [{"fileRef": {"name": "x"}}]}, "fileRef"),
    "extraVolumes over a chart volume": (
        {"extraVolumes": [{"name": "tmp", "emptyDir": {}}]},
        "name",
    ),
    "extraVolumes without a source": ({"extraVolumes": [{"name": "ca"}]}, "extraVolumes"),
    "extraVolumeMounts without a path": ({"extraVolumeMounts": [{"name": "ca"}]}, "mountPath"),
    "initContainers without a name": ({"initContainers": [{"image": "x:1"}]}, "name"),
    "sidecar named like the API": ({"sidecars": [{**CONTAINER, "name": "api"}]}, "name"),
    "commonLabels over a chart label": (
        {"commonLabels": {"app.kubernetes.io/name": "x"}},
        "commonLabels",
    ),
    "misspelt security context key": ({"podSecurityContext": {"runAsUsr": 1}}, "runAsUsr"),
    "nodePort out of range": ({"service": {"nodePort": 70000}}, "nodePort"),
    "bad externalTrafficPolicy": (
        {"service": {"externalTrafficPolicy": "Nearest"}},
        "externalTrafficPolicy",
    ),
    "unknown keda key": ({"autoscaling": {"keda": {"minReplicas": 1}}}, "minReplicas"),
    "no DNS port": ({"networkPolicy": {"egress": {"dns": {"ports": []}}}}, "ports"),
    "pool above the service's bound": ({"config": {"dbPoolSize": 500}}, "dbPoolSize"),
    "token TTL below the service's bound": (
        {"config": {"accessTokenTtlSeconds": 10}},
        "accessTokenTtlSeconds",
    ),
}
RULES_DIR = REPO_ROOT / "observability" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO_ROOT / "observability" / "grafana" / "dashboards"


def test_every_value_set_in_chart_ci_is_tested() -> None:
    assert sorted(VALUE_SETS_DIR.glob("*.yaml")) == sorted(VALUE_SETS.values())


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_lint_strict_passes(helm: Path, value_set: str) -> None:
    result = run([helm, "lint", "--strict", CHART_DIR, "--values", VALUE_SETS[value_set]])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_lint_strict_applies_the_schema(helm: Path) -> None:
    values, field = SCHEMA_REJECTIONS["wrong type"]
    result = run(
        [helm, "lint", "--strict", CHART_DIR, "--values", DEFAULT_VALUES, *set_json(**values)]
    )
    assert result.returncode != 0
    assert field in result.stdout + result.stderr


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_value_set_renders(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    kinds = {o["kind"] for o in rendered[value_set]}
    assert {"Deployment", "Service", "ConfigMap", "Job", "Pod"} <= kinds


def _template_error(helm: Path, *set_values: str) -> str:
    result = helm_template(helm, values_files=[DEFAULT_VALUES], set_values=set_values)
    assert result.returncode != 0, f"helm template accepted {set_values}"
    return result.stderr


@pytest.mark.parametrize("case", sorted(SCHEMA_REJECTIONS))
def test_schema_rejects(helm: Path, case: str) -> None:
    values, field = SCHEMA_REJECTIONS[case]
    result = helm_template(helm, values_files=[DEFAULT_VALUES], extra=set_json(**values))
    assert result.returncode != 0, f"helm template accepted {values}"
    assert field in result.stderr, result.stderr


def test_autoscaling_and_keda_exclude_each_other(helm: Path) -> None:
    assert "exclude each other" in _template_error(
        helm, "autoscaling.enabled=true", "autoscaling.keda.enabled=true"
    )


def test_missing_secrets_are_rejected(helm: Path) -> None:
    result = helm_template(helm)
    assert result.returncode != 0
    assert "secret.databaseUrl is required" in result.stderr


def test_a_short_jwt_secret_is_rejected(helm: Path) -> None:
    assert "at least 32 bytes" in _template_error(helm, "secret.jwtSecret=too-short")


def test_a_grace_period_not_above_drain_plus_graceful_is_rejected(helm: Path) -> None:
    # Defaults: drain 5 s + graceful 20 s = 25 s.
    assert "terminationGracePeriodSeconds" in _template_error(
        helm, "terminationGracePeriodSeconds=25"
    )


def test_network_policy_without_a_database_destination_is_rejected(helm: Path) -> None:
    assert "networkPolicy.egress.database" in _template_error(helm, "networkPolicy.enabled=true")


@pytest.mark.parametrize("version", ["1.27.0", "1.37.0"])
def test_renders_for_the_supported_kubernetes_versions(helm: Path, version: str) -> None:
    result = helm_template(helm, values_files=[DEFAULT_VALUES], extra=["--kube-version", version])
    assert result.returncode == 0, result.stderr


def test_refuses_a_kubernetes_version_below_kube_version(helm: Path) -> None:
    result = helm_template(helm, values_files=[DEFAULT_VALUES], extra=["--kube-version", "1.26.9"])
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr or "incompatible" in result.stderr


def test_bundle_symlinks_point_at_the_observability_sources() -> None:
    rules = CHART_DIR / "files" / "prometheus-rules"
    dashboards = CHART_DIR / "files" / "grafana-dashboards"
    assert rules.is_symlink() and rules.resolve() == RULES_DIR.resolve()
    assert dashboards.is_symlink() and dashboards.resolve() == DASHBOARDS_DIR.resolve()


def test_package_contains_the_rule_and_dashboard_files(helm: Path, tmp_path: Path) -> None:
    result = run([helm, "package", CHART_DIR, "--destination", tmp_path])
    assert result.returncode == 0, result.stderr
    (archive,) = tmp_path.glob("tasks-api-*.tgz")
    with tarfile.open(archive) as tar:
        packaged = {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }
    sources = {
        f"tasks-api/files/prometheus-rules/{p.name}": p for p in sorted(RULES_DIR.glob("*.yaml"))
    } | {
        f"tasks-api/files/grafana-dashboards/{p.name}": p
        for p in sorted(DASHBOARDS_DIR.glob("*.json"))
    }
    assert any(name.endswith(".yaml") for name in sources), "no rule files to package"
    for name, source in sources.items():
        assert packaged.get(name) == source.read_bytes(), f"{name} missing or different"
    assert not any(name.startswith("tasks-api/ci/") for name in packaged)
    assert "tasks-api/values.schema.json" in packaged


def _notes(helm: Path, tmp_path: Path, *args: str) -> str:
    # NOTES.txt is only rendered by install/upgrade (which need a cluster): render it as
    # the value of a throwaway template in a copy of the chart.
    chart = tmp_path / "tasks-api"
    shutil.copytree(CHART_DIR, chart, symlinks=False)
    (chart / "notes.txt").write_text((chart / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        'notes: |\n{{ tpl (.Files.Get "notes.txt") . | indent 2 }}\n'
    )
    show = ["--show-only", "templates/zz-notes.yaml"]
    result = run([helm, "template", "tasks-api", chart, "--namespace", "tasks-api", *args, *show])
    assert result.returncode == 0, result.stderr
    notes: str = parse_manifests(result.stdout)[0]["notes"]
    return notes


def test_notes_tell_how_to_reach_the_service_and_test_it(helm: Path, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path, "--values", str(DEFAULT_VALUES))
    assert "kubectl -n tasks-api port-forward svc/tasks-api 8000:8000" in notes
    assert "helm test tasks-api -n tasks-api" in notes
    assert "logs job/tasks-api-migrate" in notes


def test_notes_point_at_the_public_route_and_dashboards(helm: Path, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path, "--values", str(VALUE_SETS["production"]))
    assert "https://tasks.example.com/api/v1/tasks" in notes
    assert "open https://grafana.example.com" in notes
    assert "port-forward svc/tasks-api 8000" not in notes


def test_notes_in_argocd_mode_do_not_promise_helm_test(helm: Path, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path, "--values", str(VALUE_SETS["argocd"]))
    assert "PostSync hook" in notes
    assert "helm test" not in notes
