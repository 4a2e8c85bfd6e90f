"""What the migration Job needs before it starts, what it carries, and how it fails.

- its NetworkPolicy and its Secret are hooks at a lower weight (Helm) or wave (Argo CD)
  than the Job, so that on a first install under a default-deny policy the Job's pod
  has its DNS and database egress and its credentials;
- it carries database settings only, never the JWT key;
- a mesh can be told to leave it alone (pod annotations), and a configuration error
  fails it at once while a disruption does not count;
- a failed Job's logs are printed by Helm.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.invariants import hook_order_violations, hook_weight
from tests.chart.tools import (
    RELEASE,
    Manifest,
    find_object,
    helm_template,
    of_kind,
    render_with,
    set_json,
)

JOB = f"{RELEASE}-migrate"
NETWORK_POLICY = {"enabled": True, "egress": {"database": {"cidrs": ["10.0.0.0/24"]}}}
MESH = {"sidecar.istio.io/inject": "false"}


def _job(objects: list[Manifest]) -> Manifest:
    return find_object(objects, "Job", JOB)


def _prerequisites(objects: list[Manifest]) -> list[Manifest]:
    return [
        obj
        for obj in objects
        if obj["kind"] in {"Secret", "NetworkPolicy"}
        and (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "migrations"
    ]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry for entry in container.get("env", [])}


@pytest.mark.parametrize("value_set", ["default", "production", "argocd"])
def test_the_policy_and_the_secret_exist_before_the_job(helm: Path, value_set: str) -> None:
    objects = render_with(helm, VALUE_SETS[value_set], networkPolicy=NETWORK_POLICY)
    prerequisites = _prerequisites(objects)
    assert {obj["kind"] for obj in prerequisites} == {"Secret", "NetworkPolicy"}, value_set
    for obj in prerequisites:
        assert hook_order_violations(obj, _job(objects)) == [], obj["metadata"]["name"]


def test_the_api_policy_stays_a_regular_object(production_objects: list[Manifest]) -> None:
    api = find_object(production_objects, "NetworkPolicy", RELEASE)
    assert "annotations" not in api["metadata"]
    migrations = find_object(production_objects, "NetworkPolicy", JOB)
    assert migrations["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == (
        "before-hook-creation,hook-succeeded"
    )
    assert hook_weight(migrations) < hook_weight(_job(production_objects))


def test_without_network_policy_no_migration_policy_is_rendered(
    default_objects: list[Manifest],
) -> None:
    assert of_kind(default_objects, "NetworkPolicy") == []


def test_the_job_carries_no_jwt_key_and_no_api_timeouts(
    rendered: dict[str, list[Manifest]],
) -> None:
    for value_set, objects in rendered.items():
        (migrate,) = _job(objects)["spec"]["template"]["spec"]["containers"]
        env = _env(migrate)
        assert "JWT_SECRET" not in env, value_set
        assert "DB_STATEMENT_TIMEOUT_MS" not in env, value_set
        assert "MIGRATION_LOCK_TIMEOUT_SECONDS" in env, value_set
        for secret in _prerequisites(objects):
            assert "JWT_SECRET" not in (secret.get("data") or {}), value_set


def test_a_migration_url_given_to_the_chart_reaches_the_job_only(
    production_objects: list[Manifest],
) -> None:
    hook_secret = find_object(production_objects, "Secret", JOB)
    owner_url = base64.b64decode(hook_secret["data"]["MIGRATION_DATABASE_URL"]).decode()
    assert owner_url.startswith("postgresql://tasks_owner:")
    assert (
        "MIGRATION_DATABASE_URL" not in find_object(production_objects, "Secret", RELEASE)["data"]
    )
    (migrate,) = _job(production_objects)["spec"]["template"]["spec"]["containers"]
    ref = _env(migrate)["MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": JOB, "key": "MIGRATION_DATABASE_URL"}
    (api,) = find_object(production_objects, "Deployment", RELEASE)["spec"]["template"]["spec"][
        "containers"
    ]
    assert "MIGRATION_DATABASE_URL" not in _env(api)


def test_a_migration_url_key_in_the_database_secret_is_read_from_there(helm: Path) -> None:
    objects = render_with(
        helm,
        VALUE_SETS["cloudnativepg"],
        secret={"existingSecretKeys": {"migrationDatabaseUrl": "owner-uri"}},
    )
    (migrate,) = _job(objects)["spec"]["template"]["spec"]["containers"]
    ref = _env(migrate)["MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tasks-db-app", "key": "owner-uri"}


def test_mesh_annotations_and_labels_reach_the_job_and_test_pods(helm: Path) -> None:
    objects = render_with(
        helm,
        VALUE_SETS["default"],
        migrations={"podAnnotations": MESH, "podLabels": {"team": "platform"}},
        tests={"podAnnotations": MESH},
    )
    template = _job(objects)["spec"]["template"]["metadata"]
    assert template["annotations"] == MESH
    assert template["labels"]["team"] == "platform"
    assert template["labels"]["app.kubernetes.io/component"] == "migrations"
    pods = of_kind(objects, "Pod")
    assert pods
    for pod in pods:
        annotations = pod["metadata"]["annotations"]
        assert annotations["sidecar.istio.io/inject"] == "false"
        assert annotations["helm.sh/hook"] == "test", "the hook annotation must stay"


def test_a_configuration_error_fails_the_job_at_once(default_objects: list[Manifest]) -> None:
    spec = _job(default_objects)["spec"]
    rules = spec["podFailurePolicy"]["rules"]
    fail_job = next(rule for rule in rules if rule["action"] == "FailJob")
    assert fail_job["onExitCodes"] == {"containerName": "migrate", "operator": "In", "values": [2]}
    ignore = next(rule for rule in rules if rule["action"] == "Ignore")
    assert ignore["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
    # A pod failure policy needs restartPolicy Never.
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_helm_prints_a_failed_jobs_logs(rendered: dict[str, list[Manifest]]) -> None:
    helm_mode = _job(rendered["default"])["metadata"]["annotations"]
    assert helm_mode["helm.sh/hook-output-log-policy"] == "hook-failed"
    argocd_mode = _job(rendered["argocd"])["metadata"]["annotations"]
    assert "helm.sh/hook-output-log-policy" not in argocd_mode


def test_a_lock_timeout_beyond_the_deadline_is_refused(helm: Path) -> None:
    result = helm_template(
        helm,
        values_files=[VALUE_SETS["default"]],
        extra=set_json(migrations={"lockTimeoutSeconds": 300, "activeDeadlineSeconds": 240}),
    )
    assert result.returncode != 0
    assert "migrations.lockTimeoutSeconds must be below migrations.activeDeadlineSeconds" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "migrations",
    [{"ddlLockTimeoutMs": -1}, {"lockTimeoutSeconds": 0}, {"podAnnotations": {"a": 1}}],
)
def test_the_schema_refuses_bad_migration_values(helm: Path, migrations: dict[str, Any]) -> None:
    result = helm_template(
        helm, values_files=[VALUE_SETS["default"]], extra=set_json(migrations=migrations)
    )
    assert result.returncode != 0
    assert next(iter(migrations)) in result.stderr


def test_the_job_and_test_pods_take_their_own_affinity(helm: Path) -> None:
    pool = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["jobs"]}]}
                ]
            }
        }
    }
    api_only: dict[str, Any] = {
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}
    }
    objects = render_with(
        helm,
        VALUE_SETS["default"],
        affinity=api_only,
        migrations={"affinity": pool},
        tests={"affinity": pool},
        tolerations=[{"key": "dedicated", "operator": "Exists"}],
    )
    job = _job(objects)["spec"]["template"]["spec"]
    assert job["affinity"] == pool
    assert job["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    for pod in of_kind(objects, "Pod"):
        assert pod["spec"]["affinity"] == pool
    api = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    assert "podAntiAffinity" in api["affinity"]


def test_without_their_own_affinity_the_job_and_test_pods_have_none(
    default_objects: list[Manifest],
) -> None:
    assert "affinity" not in _job(default_objects)["spec"]["template"]["spec"]
    for pod in of_kind(default_objects, "Pod"):
        assert "affinity" not in pod["spec"]
