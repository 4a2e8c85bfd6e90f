"""Checks of rendered objects, as functions returning what is wrong (empty when fine).

They are plain functions so that the tests can show each one failing on a broken
object as well as passing on the rendered chart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from tests.chart.tools import Manifest

NONROOT_ID = 65532
IDS = ("runAsUser", "runAsGroup", "fsGroup")
APP_PORTS = {"http": 8000, "metrics": 9000}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
ALLOWED_VOLUME_TYPES = {
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
    "persistentVolumeClaim",
    "ephemeral",
    "csi",
}


def pod_specs(objects: Sequence[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("Kind/name", pod spec) of every object that runs pods."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            yield f"{kind}/{name}", obj["spec"]
        elif kind in POD_TEMPLATE_KINDS:
            yield f"{kind}/{name}", obj["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Init and regular containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def restricted_violations(where: str, spec: dict[str, Any]) -> list[str]:
    """What in this pod spec breaks the restricted Pod Security Standard (and our user)."""
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    if pod.get("runAsNonRoot") is not True:
        problems.append(f"{where}: securityContext.runAsNonRoot is {pod.get('runAsNonRoot')!r}")
    # The ids may be left to the platform (OpenShift's SCC assigns them); when set, they
    # are the image's user.
    for key in IDS:
        if key in pod and pod[key] != NONROOT_ID:
            problems.append(f"{where}: securityContext.{key} is {pod[key]!r}, not {NONROOT_ID}")
    if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{where}: {flag} is set")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken is not false")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            problems.append(f"{where}: volume {volume['name']} uses {sorted(kinds)}")
    for container in containers(spec):
        problems += _container_violations(f"{where}/{container['name']}", container)
    return problems


def _container_violations(where: str, container: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    context = container.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    if context.get("privileged"):
        problems.append(f"{where}: privileged")
    if context.get("runAsNonRoot") is False or context.get("runAsUser") == 0:
        problems.append(f"{where}: may run as root")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in capabilities.get("drop", []):
        problems.append(f"{where}: capabilities do not drop ALL")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        problems.append(f"{where}: adds capabilities {capabilities['add']}")
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"{where}: seccompProfile {seccomp}")
    resources = container.get("resources") or {}
    for bound in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in (resources.get(bound) or {}):
                problems.append(f"{where}: no {bound}.{resource}")
    image = str(container.get("image", ""))
    if image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
        problems.append(f"{where}: image {image!r} has no pinned tag")
    return problems


def _http_get(probe: dict[str, Any] | None) -> tuple[str, Any] | None:
    if not probe or "httpGet" not in probe:
        return None
    return probe["httpGet"].get("path"), probe["httpGet"].get("port")


def _port_number(container: dict[str, Any], port: Any) -> Any:
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    return named.get(port, port)


def api_probe_violations(deployment: Manifest) -> list[str]:
    """Ports and probes of the API container against the service's contract."""
    spec = deployment["spec"]["template"]["spec"]
    (api,) = [c for c in spec["containers"] if c["name"] == "api"]
    problems: list[str] = []
    ports = {p.get("name"): p["containerPort"] for p in api.get("ports", [])}
    if ports != APP_PORTS:
        problems.append(f"container ports {ports} are not {APP_PORTS}")
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        got = _http_get(api.get(probe))
        if got is None:
            problems.append(f"{probe} is not an httpGet probe")
            continue
        if got[0] != path:
            problems.append(f"{probe} checks {got[0]}, not {path}")
        if _port_number(api, got[1]) != APP_PORTS["http"]:
            problems.append(f"{probe} uses port {got[1]}, not the http port")
    if (api.get("lifecycle") or {}).get("preStop"):
        problems.append("a preStop hook is set: the service drains itself")
    return problems


def env_names(container: dict[str, Any]) -> set[str]:
    """Names of the container's env entries."""
    return {entry["name"] for entry in container.get("env", [])}


def grace_violations(deployment: Manifest, config: dict[str, str]) -> list[str]:
    """The kubelet must wait longer than the drain delay plus the graceful timeout."""
    grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds")
    needed = int(config["DRAIN_DELAY_SECONDS"]) + int(config["GRACEFUL_TIMEOUT_SECONDS"])
    if not isinstance(grace, int) or grace <= needed:
        return [f"terminationGracePeriodSeconds {grace!r} is not above {needed}"]
    return []


def hook_weight(obj: Manifest) -> int:
    """Helm hook weight, or Argo CD sync wave, of a hook object."""
    annotations = obj["metadata"].get("annotations") or {}
    value = annotations.get("helm.sh/hook-weight", annotations.get("argocd.argoproj.io/sync-wave"))
    if value is None:
        raise KeyError(f"{obj['kind']}/{obj['metadata']['name']} has no hook weight")
    return int(value)


def hook_order_violations(secret: Manifest, job: Manifest) -> list[str]:
    """The hook Secret must be created before the migration Job, in the same hook phase."""
    problems: list[str] = []
    phases = []
    for obj in (secret, job):
        annotations = obj["metadata"].get("annotations") or {}
        phases.append(
            annotations.get("helm.sh/hook") or annotations.get("argocd.argoproj.io/hook") or ""
        )
    if phases[0] != phases[1] or not phases[0]:
        problems.append(f"hook phases differ or are missing: {phases}")
    try:
        if hook_weight(secret) >= hook_weight(job):
            problems.append("the Secret's hook weight is not below the Job's")
    except KeyError as error:
        problems.append(str(error))
    return problems
