"""The purge CronJob: its schedule and bounds, a pod hardened exactly like the migration Job's
under restricted Pod Security, database settings only, and its own NetworkPolicy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS
from tests.chart.invariants import restricted_violations
from tests.chart.tools import (
    RELEASE,
    Manifest,
    find_object,
    helm_template,
    of_kind,
    render_with,
    set_json,
)

CRONJOB = f"{RELEASE}-purge"
NETWORK_POLICY = {"enabled": True, "egress": {"database": {"cidrs": ["10.0.0.0/24"]}}}
PURGE_SETTINGS = {
    "ENVIRONMENT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "DB_CONNECT_TIMEOUT_SECONDS",
    "DB_PGBOUNCER",
    "PURGE_BATCH_SIZE",
    "PURGE_MAX_BATCHES",
    "PURGE_MAX_SECONDS",
    "PURGE_GRACE_SECONDS",
}


def _cronjob(objects: list[Manifest]) -> Manifest:
    return find_object(objects, "CronJob", CRONJOB)


def _pod(cronjob: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def _migration_pod(objects: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = find_object(objects, "Job", f"{RELEASE}-migrate")["spec"]["template"][
        "spec"
    ]
    return spec


def test_the_cronjob_runs_purge_on_a_schedule_one_run_at_a_time(
    default_objects: list[Manifest],
) -> None:
    cronjob = _cronjob(default_objects)
    spec = cronjob["spec"]
    assert spec["schedule"] == "17 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (1, 3)
    assert spec["suspend"] is False
    job = spec["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (2, 900)
    # An invalid setting (exit 2) fails the Job at once; a disruption is not a failure.
    fail, ignore = job["podFailurePolicy"]["rules"]
    assert fail["action"] == "FailJob"
    assert fail["onExitCodes"] == {"containerName": "purge", "operator": "In", "values": [2]}
    assert ignore == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    pod = _pod(cronjob)
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert (container["name"], container["args"]) == ("purge", ["purge"])
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/component"] == "purge"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_purge_pod_is_restricted_and_hardened_like_the_migration_job(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    objects = rendered[value_set]
    pod, migration = _pod(_cronjob(objects)), _migration_pod(objects)
    assert restricted_violations(f"{value_set}/purge", pod) == []
    assert pod["securityContext"] == migration["securityContext"]
    (purge,), (migrate,) = pod["containers"], migration["containers"]
    assert purge["securityContext"] == migrate["securityContext"]
    assert purge["volumeMounts"] == migrate["volumeMounts"]
    assert pod["volumes"] == migration["volumes"]
    for key in ("automountServiceAccountToken", "enableServiceLinks", "restartPolicy"):
        assert pod[key] == migration[key], key
    assert pod["automountServiceAccountToken"] is False


def test_a_weakened_security_context_is_flagged_on_the_purge_pod(helm: Path) -> None:
    objects = render_with(
        helm,
        VALUE_SETS["default"],
        securityContext={"readOnlyRootFilesystem": False, "allowPrivilegeEscalation": True},
        podSecurityContext={"runAsNonRoot": None},
    )
    problems = restricted_violations("purge", _pod(_cronjob(objects)))
    assert any("readOnlyRootFilesystem" in p for p in problems), problems
    assert any("allowPrivilegeEscalation" in p for p in problems), problems
    assert any("runAsNonRoot" in p for p in problems), problems


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_purge_container_carries_database_settings_only(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    objects = rendered[value_set]
    (container,) = _pod(_cronjob(objects))["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    extra = {entry["name"] for entry in _extra_env(value_set)}
    assert set(env) - extra == PURGE_SETTINGS | {"DATABASE_URL"}
    assert "JWT_SECRET" not in env and "DRILLS_TOKEN" not in env
    # No ConfigMap of serve's settings: only what the operator adds with extraEnvFrom.
    for source in container.get("envFrom", []):
        assert "configMapRef" not in source or source["configMapRef"]["name"] != RELEASE
    # The release's Secret (the CronJob is no hook), or the operator's existing one.
    (api,) = [
        c
        for c in find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"][
            "containers"
        ]
        if c["name"] == "api"
    ]
    api_url = next(entry for entry in api["env"] if entry["name"] == "DATABASE_URL")
    assert env["DATABASE_URL"] == api_url


def _extra_env(value_set: str) -> list[dict[str, Any]]:
    values = yaml.safe_load(VALUE_SETS[value_set].read_text()) or {}
    extra: list[dict[str, Any]] = values.get("extraEnv") or []
    return extra


def test_purge_values_reach_the_container(helm: Path) -> None:
    purge = {"batchSize": 200, "maxBatches": 50, "maxSeconds": 60, "graceSeconds": 0}
    objects = render_with(helm, VALUE_SETS["default"], purge=purge)
    (container,) = _pod(_cronjob(objects))["containers"]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert env["PURGE_BATCH_SIZE"] == "200"
    assert env["PURGE_MAX_BATCHES"] == "50"
    assert env["PURGE_MAX_SECONDS"] == "60"
    assert env["PURGE_GRACE_SECONDS"] == "0"


def test_disabled_purge_renders_no_cronjob_and_no_policy(helm: Path) -> None:
    objects = render_with(
        helm, VALUE_SETS["default"], purge={"enabled": False}, networkPolicy=NETWORK_POLICY
    )
    assert of_kind(objects, "CronJob") == []
    names = {p["metadata"]["name"] for p in of_kind(objects, "NetworkPolicy")}
    assert f"{RELEASE}-migrate" in names
    assert CRONJOB not in names


def test_the_purge_policy_allows_dns_and_the_database_only(helm: Path) -> None:
    objects = render_with(helm, VALUE_SETS["default"], networkPolicy=NETWORK_POLICY)
    policy = find_object(objects, "NetworkPolicy", CRONJOB)
    assert "annotations" not in policy["metadata"], "a regular object, not a hook"
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "purge"
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in policy["spec"], "no traffic in"
    dns, database = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert database == {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    }
    # The pods the policy selects are exactly the CronJob's.
    labels = _cronjob(objects)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    api = find_object(objects, "NetworkPolicy", RELEASE)["spec"]["podSelector"]["matchLabels"]
    assert not api.items() <= labels.items(), "the API's policy must not select purge pods"


def test_without_network_policy_no_purge_policy_is_rendered(
    default_objects: list[Manifest],
) -> None:
    assert of_kind(default_objects, "NetworkPolicy") == []


def test_a_time_bound_beyond_the_job_deadline_fails_rendering(helm: Path) -> None:
    result = helm_template(
        helm,
        values_files=[VALUE_SETS["default"]],
        extra=set_json(purge={"maxSeconds": 900, "activeDeadlineSeconds": 900}),
    )
    assert result.returncode != 0
    assert "purge.maxSeconds must be below purge.activeDeadlineSeconds" in result.stderr


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"concurrencyPolicy": "Sometimes"}, "concurrencyPolicy"),
        ({"batchSize": 0}, "batchSize"),
        ({"graceSeconds": 86_401}, "graceSeconds"),
        ({"schedule": ""}, "schedule"),
    ],
)
def test_the_schema_rejects_invalid_purge_values(
    helm: Path, values: dict[str, Any], field: str
) -> None:
    result = helm_template(
        helm, values_files=[VALUE_SETS["default"]], extra=set_json(purge=copy.deepcopy(values))
    )
    assert result.returncode != 0
    assert field in result.stderr
