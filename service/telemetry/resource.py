"""The OpenTelemetry resource of a worker: who is sending, by the semantic conventions.

`service.instance.id` is stable per pod (or host and port) and worker slot: a
worker that gunicorn recycles hands its slot to its replacement, which then
sends under the same id, so a series keyed by the instance does not churn on
every recycle. Two live workers never share a slot (each holds an exclusive
lock on its slot file for its lifetime; the kernel releases it when the process
ends, also on SIGKILL).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import IO

from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from service.config import Settings
from service.version import VERSION

SERVICE_NAME = "tasks-api"
# Downward API variables of the chart -> resource attributes.
K8S_ATTRIBUTES = {
    "K8S_POD_NAME": "k8s.pod.name",
    "K8S_POD_UID": "k8s.pod.uid",
    "K8S_NAMESPACE_NAME": "k8s.namespace.name",
    "K8S_NODE_NAME": "k8s.node.name",
    "K8S_DEPLOYMENT_NAME": "k8s.deployment.name",
    "K8S_CONTAINER_NAME": "k8s.container.name",
}
# The namespace the semantic conventions give for service.instance.id UUIDs (v5).
INSTANCE_NAMESPACE = uuid.UUID("4d63009a-8d0f-11ee-aad7-4c796ed8e320")
MAX_SLOTS = 1024

_held_slot: tuple[int, int, IO[str]] | None = None  # (pid, slot, locked file)


def slot_directory() -> Path:
    """Where the workers of this server lock their slots (one directory per master)."""
    return Path(tempfile.gettempdir()) / f"tasks-api-worker-slots-{os.getppid()}"


def claim_worker_slot(directory: Path | None = None) -> int | None:
    """The lowest slot no live sibling worker holds, locked for this process's lifetime.

    None when the directory cannot be used (the id then falls back to a random one).
    """
    global _held_slot  # noqa: PLW0603 - one slot per process, held until it exits
    if _held_slot is not None and _held_slot[0] == os.getpid():
        return _held_slot[1]
    directory = directory or slot_directory()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            handle = (directory / f"slot-{slot}.lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held_slot = (os.getpid(), slot, handle)
            return slot
    except OSError:
        return None
    return None


def release_worker_slot() -> None:
    """Give the slot back (tests; a worker keeps it until it exits)."""
    global _held_slot  # noqa: PLW0603
    if _held_slot is not None:
        with contextlib.suppress(OSError):
            _held_slot[2].close()
        _held_slot = None


def instance_id(settings: Settings, slot: int | None) -> str:
    """UUID v5 of the pod (namespace, pod, container) or host and port, and the worker slot."""
    if slot is None:
        return str(uuid.uuid4())
    environ = os.environ
    if pod := environ.get("K8S_POD_NAME"):
        where = ".".join(
            (environ.get("K8S_NAMESPACE_NAME", ""), pod, environ.get("K8S_CONTAINER_NAME", ""))
        )
    else:
        where = f"{socket.gethostname()}:{settings.port}"
    return str(uuid.uuid5(INSTANCE_NAMESPACE, f"{where}.worker-{slot}"))


def build_resource(settings: Settings, slot: int | None = None) -> Resource:
    """The resource of this process: service, environment, instance and Kubernetes attributes.

    OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME may override the defaults,
    but never `service.instance.id`: it must differ between worker processes.
    `service.namespace` is only what OTEL_RESOURCE_ATTRIBUTES says (a group of
    services, such as a team's; never the Kubernetes namespace).
    """
    attributes: dict[str, str] = {
        "service.name": SERVICE_NAME,
        "service.version": VERSION,
        "deployment.environment.name": str(settings.environment),
    }
    for variable, attribute in K8S_ATTRIBUTES.items():
        if value := os.environ.get(variable):
            attributes[attribute] = value
    from_environment = OTELResourceDetector().detect()
    instance = Resource({"service.instance.id": instance_id(settings, slot)})
    return Resource.create(attributes).merge(from_environment).merge(instance)
