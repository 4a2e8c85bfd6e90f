"""The e2e workflow's drill, checked here as far as it can be without a cluster.

The cluster part (kind) runs on GitHub; what it applies by hand (the load generator and
the stranger pod) must pass the same restricted Pod Security and schema checks as the
chart's own pods, and the steps must really upgrade to an image with a new migration
under load and roll back.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.chart.invariants import restricted_violations
from tests.chart.test_kubernetes_schema import KUBERNETES_VERSIONS, schema_errors
from tests.chart.tools import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "e2e.yml"


def _steps() -> dict[str, str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return {
        step.get("name", ""): step.get("run", "")
        for step in workflow["jobs"]["kind"]["steps"]
        if "run" in step
    }


def _applied_pods() -> dict[str, dict[str, Any]]:
    """The manifests that steps pipe to `kubectl apply -f -`, with the env filled in."""
    env = yaml.safe_load(WORKFLOW.read_text())["env"]
    pods = {}
    for name, script in _steps().items():
        if "<<YAML\n" not in script:
            continue
        body = script.split("<<YAML\n", 1)[1].split("\nYAML", 1)[0]
        for variable, value in env.items():
            body = body.replace("${" + variable + "}", str(value))
        pods[name] = yaml.safe_load(body)
    return pods


def test_the_drill_runs_under_restricted_pod_security_with_the_policy_on() -> None:
    steps = _steps()
    namespace = steps["Namespace enforcing restricted Pod Security"]
    assert "pod-security.kubernetes.io/enforce=restricted" in namespace
    assert "-f chart/ci/e2e-values.yaml" in steps["Install tasks-api"]
    values = yaml.safe_load((REPO_ROOT / "chart" / "ci" / "e2e-values.yaml").read_text())
    assert values["networkPolicy"]["enabled"] is True
    # kind enforces NetworkPolicy from v0.24 on (kindnet with kube-network-policies).
    kind_version = yaml.safe_load(WORKFLOW.read_text())["env"]["KIND_VERSION"]
    assert tuple(int(part) for part in kind_version.lstrip("v").split(".")) >= (0, 24, 0)


def test_the_upgrade_brings_a_new_migration_and_the_rollback_the_old_code() -> None:
    steps = _steps()
    assert any("expand_migration.py migrations/versions" in run for run in steps.values())
    upgrade = steps["Upgrade to the image with a new migration, under load"]
    assert "--set image.tag=e2e-next" in upgrade and 'grep -q "to drill_expand"' in upgrade
    rollback = steps["Roll back to revision 1 (old code on the newer schema), under load"]
    assert "helm rollback" in rollback and "--wait" in rollback
    verdict = steps["Zero failed requests during the upgrade and the rollback"]
    assert "jq -e '.passed == true and .failures == 0'" in verdict
    order = list(steps)
    assert (
        order.index("Start the load generator (through the Service)")
        < order.index("Upgrade to the image with a new migration, under load")
        < order.index("Roll back to revision 1 (old code on the newer schema), under load")
        < order.index("Zero failed requests during the upgrade and the rollback")
    )


def test_a_purge_run_from_the_cronjob_must_complete_in_the_cluster() -> None:
    steps = _steps()
    name = "A purge run from the CronJob succeeds (restricted pod, NetworkPolicy on)"
    purge = steps[name]
    assert '--from="cronjob/${RELEASE}-purge"' in purge
    assert "--for=condition=Complete" in purge
    assert "grep -Eq '^purged [0-9]+ idempotency keys" in purge
    order = list(steps)
    assert order.index("Install tasks-api") < order.index(name)
    assert order.index(name) < order.index("Start the load generator (through the Service)")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_pods_the_workflow_applies_pass_restricted_and_the_schema(version: str) -> None:
    pods = _applied_pods()
    assert len(pods) == 2, sorted(pods)
    for step, pod in pods.items():
        assert restricted_violations(step, pod["spec"]) == []
        assert schema_errors(pod, version) == []


def test_a_privileged_pod_would_be_caught() -> None:
    pod = next(iter(_applied_pods().values()))
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert restricted_violations("tampered", pod["spec"]) != []


def test_the_load_pod_runs_the_tested_generator() -> None:
    load = _applied_pods()["Start the load generator (through the Service)"]
    (container,) = load["spec"]["containers"]
    assert container["command"][:2] == ["python", "/load/e2e_load.py"]
    assert "--stop-file" in container["command"]
    assert load["metadata"]["labels"]["app.kubernetes.io/name"] == "e2e-load"
