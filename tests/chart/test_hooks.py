"""The migration hook: ordering, secrets, environment, and its Argo CD form."""

from __future__ import annotations

import copy

import pytest

from service.config import MigrationSettings
from tests.chart.invariants import hook_order_violations
from tests.chart.tools import RELEASE, Manifest, find_object, of_kind

HOOK_SECRET = f"{RELEASE}-migrate"
JOB = f"{RELEASE}-migrate"
HELM_TIMEOUT_SECONDS = 300  # helm's default --timeout (5m)


def _job(objects: list[Manifest]) -> Manifest:
    return find_object(objects, "Job", JOB)


def _secret_refs(container: dict[str, object]) -> dict[str, str]:
    refs = {}
    for entry in container.get("env", []):  # type: ignore[attr-defined]
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            refs[entry["name"]] = ref["name"]
    return refs


@pytest.mark.parametrize("value_set", ["default", "production", "argocd"])
def test_hook_secret_is_created_before_the_migration_job(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    objects = rendered[value_set]
    secret = find_object(objects, "Secret", HOOK_SECRET)
    assert hook_order_violations(secret, _job(objects)) == []


def test_hook_order_check_flags_swapped_weights(default_objects: list[Manifest]) -> None:
    secret = copy.deepcopy(find_object(default_objects, "Secret", HOOK_SECRET))
    secret["metadata"]["annotations"]["helm.sh/hook-weight"] = "0"
    assert hook_order_violations(secret, _job(default_objects)) == [
        "the Secret's hook weight is not below the Job's"
    ]


def test_hook_order_check_flags_a_secret_outside_the_hook(
    default_objects: list[Manifest],
) -> None:
    regular = find_object(default_objects, "Secret", RELEASE)
    problems = hook_order_violations(regular, _job(default_objects))
    assert any("hook phases" in p for p in problems)
    assert any("no hook weight" in p for p in problems)


def test_helm_hooks_run_before_install_and_upgrade(default_objects: list[Manifest]) -> None:
    job_annotations = _job(default_objects)["metadata"]["annotations"]
    secret_annotations = find_object(default_objects, "Secret", HOOK_SECRET)["metadata"][
        "annotations"
    ]
    assert job_annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job_annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    assert secret_annotations["helm.sh/hook-delete-policy"] == (
        "before-hook-creation,hook-succeeded"
    )
    regular = find_object(default_objects, "Secret", RELEASE)
    assert "annotations" not in regular["metadata"], "the Deployment's Secret is no hook"
    hook_data = find_object(default_objects, "Secret", HOOK_SECRET)["data"]
    # The Job gets the database URL only: the signing key never leaves the regular Secret.
    assert hook_data == {"DATABASE_URL": regular["data"]["DATABASE_URL"]}
    assert set(regular["data"]) == {"DATABASE_URL", "JWT_SECRET"}


def test_migration_job_runs_migrate_with_its_own_settings_only(
    default_objects: list[Manifest],
) -> None:
    job = _job(default_objects)
    spec = job["spec"]["template"]["spec"]
    (migrate,) = spec["containers"]
    deployment = find_object(default_objects, "Deployment", RELEASE)
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    config = find_object(default_objects, "ConfigMap", RELEASE)["data"]
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == api["image"]
    assert spec["restartPolicy"] == "Never"
    # Inline (the ConfigMap does not exist at pre-install time), and only what `migrate`
    # reads: no API statement or pool timeout applies to migrations.
    inline = {e["name"]: e["value"] for e in migrate["env"] if "value" in e}
    migration_variables = {name.upper() for name in MigrationSettings.model_fields}
    assert set(inline) == migration_variables - {"DATABASE_URL", "MIGRATION_DATABASE_URL"}
    assert {k: v for k, v in inline.items() if k in config} == {
        k: config[k] for k in inline if k in config
    }
    assert inline["MIGRATION_LOCK_TIMEOUT_SECONDS"] == "180"
    assert inline["MIGRATION_DDL_LOCK_TIMEOUT_MS"] == "10000"
    assert "DB_STATEMENT_TIMEOUT_MS" not in inline
    assert "envFrom" not in migrate
    assert _secret_refs(migrate) == {"DATABASE_URL": HOOK_SECRET}
    assert _secret_refs(api) == {"DATABASE_URL": RELEASE, "JWT_SECRET": RELEASE}
    # The release's ServiceAccount is not created yet either.
    assert "serviceAccountName" not in spec


def test_migration_job_gives_up_before_helm_does(rendered: dict[str, list[Manifest]]) -> None:
    for value_set, objects in rendered.items():
        job_spec = _job(objects)["spec"]
        assert job_spec["activeDeadlineSeconds"] < HELM_TIMEOUT_SECONDS, value_set
        assert 0 <= job_spec["backoffLimit"] <= 3, value_set


def test_existing_secret_replaces_both_chart_secrets(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["existing-secret"]
    assert of_kind(objects, "Secret") == []
    (migrate,) = _job(objects)["spec"]["template"]["spec"]["containers"]
    (api,) = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]["containers"]
    expected = {"DATABASE_URL": "tasks-api-credentials", "JWT_SECRET": "tasks-api-credentials"}
    assert _secret_refs(migrate) == {"DATABASE_URL": "tasks-api-credentials"}
    assert _secret_refs(api) == expected
    assert _job(objects)["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == (
        "before-hook-creation,hook-succeeded"
    )
    assert of_kind(objects, "ServiceAccount") == []
    pod = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tasks-api-workload"


def test_argocd_mode_uses_presync_hooks_and_sync_waves(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["argocd"]
    for obj in (_job(objects), find_object(objects, "Secret", HOOK_SECRET)):
        annotations = obj["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/hook"] == "PreSync"
        assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
        assert not [k for k in annotations if k.startswith("helm.sh/")]
    for pod in of_kind(objects, "Pod"):
        assert pod["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"


def test_no_helm_hooks_leak_into_argocd_mode(rendered: dict[str, list[Manifest]]) -> None:
    annotated = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered["argocd"]
        if any(k.startswith("helm.sh/hook") for k in (o["metadata"].get("annotations") or {}))
    ]
    assert annotated == []


def test_helm_mode_has_no_argocd_annotations(default_objects: list[Manifest]) -> None:
    annotated = [
        o["metadata"]["name"]
        for o in default_objects
        if any(k.startswith("argocd.") for k in (o["metadata"].get("annotations") or {}))
    ]
    assert annotated == []
