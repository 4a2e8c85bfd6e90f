"""Platforms: OpenShift security contexts, operators' Secrets, and the image reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS
from tests.chart.invariants import IDS, containers, pod_specs, restricted_violations
from tests.chart.tools import CHART_DIR, RELEASE, Manifest, find_object, of_kind, render_with

DEFAULT = VALUE_SETS["default"]
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
APP_VERSION = str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"])
OLD_DIGEST = "sha256:" + "a" * 64
PINNED_DIGEST = "sha256:" + "b" * 64


def _chart_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    # The chart's own containers (user-supplied init containers and sidecars excluded).
    return [
        c for c in containers(spec) if c["name"] in {"api", "migrate", "purge", "probe", "probe-0"}
    ]


def _contexts(objects: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for where, spec in pod_specs(objects):
        found.append((where, spec.get("securityContext") or {}))
        found += [(f"{where}/{c['name']}", c["securityContext"]) for c in _chart_containers(spec)]
    return found


def test_openshift_pods_carry_no_ids_and_keep_every_restricted_field(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["openshift"]
    specs = dict(pod_specs(objects))
    assert len(specs) == 5
    for where, context in _contexts(objects):
        assert not set(IDS) & set(context), f"{where} sets {set(IDS) & set(context)}"
    for where, spec in specs.items():
        assert spec["securityContext"].items() >= RESTRICTED_POD.items(), where
        for container in _chart_containers(spec):
            assert container["securityContext"] == RESTRICTED_CONTAINER, where
    assert [p for w, s in specs.items() for p in restricted_violations(w, s)] == []


def test_without_openshift_every_pod_runs_as_the_image_user(
    default_objects: list[Manifest],
) -> None:
    contexts = _contexts(default_objects)
    assert len(contexts) == 11  # 5 pods, 6 containers
    for where, context in contexts:
        assert context["runAsUser"] == 65532 and context["runAsGroup"] == 65532, where


def test_null_removes_a_default_key_and_keeps_the_others(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        podSecurityContext={"runAsUser": None, "runAsGroup": None, "fsGroup": None},
        securityContext={"runAsUser": None, "runAsGroup": None},
    )
    for where, context in _contexts(objects):
        assert not set(IDS) & set(context), where
        assert context["runAsNonRoot"] is True, where
    pod = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"] == RESTRICTED_CONTAINER


def test_a_value_overrides_one_key_over_the_defaults(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        podSecurityContext={"runAsUser": 1001, "supplementalGroups": [5000]},
        securityContext={"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}},
    )
    pod = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1001
    assert pod["securityContext"]["supplementalGroups"] == [5000]
    assert pod["securityContext"]["fsGroup"] == 65532
    api = pod["containers"][0]["securityContext"]
    assert api["seccompProfile"] == {"type": "Localhost", "localhostProfile": "x.json"}
    assert api["readOnlyRootFilesystem"] is True and api["capabilities"] == {"drop": ["ALL"]}


def test_an_explicit_override_of_a_restricted_field_is_visible_to_the_check(
    helm: Path,
) -> None:
    objects = render_with(helm, DEFAULT, securityContext={"readOnlyRootFilesystem": False})
    problems = [p for w, s in pod_specs(objects) for p in restricted_violations(w, s)]
    assert any("readOnlyRootFilesystem" in p for p in problems)


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "secretKeyRef" in (e.get("valueFrom") or {})
    }


def _api_and_migrate(objects: list[Manifest]) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = find_object(objects, "Deployment", RELEASE)
    job = find_object(objects, "Job", f"{RELEASE}-migrate")
    return (
        deployment["spec"]["template"]["spec"]["containers"][0],
        job["spec"]["template"]["spec"]["containers"][0],
    )


def test_cloudnativepg_secret_key_uri_and_a_separate_jwt_secret(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["cloudnativepg"]
    expected = {"DATABASE_URL": ("tasks-db-app", "uri"), "JWT_SECRET": ("tasks-api-jwt", "key")}
    api, migrate = _api_and_migrate(objects)
    assert _secret_refs(api) == expected
    assert _secret_refs(migrate) == {"DATABASE_URL": expected["DATABASE_URL"]}
    assert of_kind(objects, "Secret") == []


def test_only_the_value_no_existing_secret_holds_is_in_the_chart_secret(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        secret={
            "databaseExistingSecret": "tasks-db-app",
            "existingSecretKeys": {"databaseUrl": "uri"},
            "databaseUrl": "",
        },
    )
    api, migrate = _api_and_migrate(objects)
    assert _secret_refs(api) == {
        "DATABASE_URL": ("tasks-db-app", "uri"),
        "JWT_SECRET": (RELEASE, "JWT_SECRET"),
    }
    # The migration Job needs no JWT key, and its database URL is in an existing Secret:
    # no hook Secret at all.
    assert _secret_refs(migrate) == {"DATABASE_URL": ("tasks-db-app", "uri")}
    (secret,) = of_kind(objects, "Secret")
    assert secret["metadata"]["name"] == RELEASE
    assert set(secret["data"]) == {"JWT_SECRET"}


def test_the_migration_job_may_read_its_own_url(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        secret={
            "existingSecret": "tasks-credentials",
            "migrationExistingSecret": "tasks-db-owner",
            "existingSecretKeys": {"migrationDatabaseUrl": "uri"},
        },
    )
    api, migrate = _api_and_migrate(objects)
    assert _secret_refs(api)["DATABASE_URL"] == ("tasks-credentials", "DATABASE_URL")
    assert _secret_refs(migrate) == {
        "DATABASE_URL": ("tasks-credentials", "DATABASE_URL"),
        "MIGRATION_DATABASE_URL": ("tasks-db-owner", "uri"),
    }


def test_a_new_existing_secret_key_rolls_the_pods(helm: Path) -> None:
    def checksum(key: str) -> str:
        objects = render_with(
            helm, VALUE_SETS["cloudnativepg"], secret={"existingSecretKeys": {"databaseUrl": key}}
        )
        annotations = find_object(objects, "Deployment", RELEASE)["spec"]["template"]["metadata"]
        value: str = annotations["annotations"]["checksum/secret"]
        return value

    assert checksum("uri") != checksum("DATABASE_URL")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://tasks:pw@db:5432/tasks?sslmode=require",
        "postgres://tasks:pw@db:5432/tasks",
        "postgresql+asyncpg://tasks:pw@db:5432/tasks",
    ],
)
def test_the_schema_accepts_libpq_and_asyncpg_urls(helm: Path, url: str) -> None:
    objects = render_with(helm, DEFAULT, secret={"databaseUrl": url})
    assert find_object(objects, "Secret", RELEASE)["data"]["DATABASE_URL"]


def _image(objects: list[Manifest]) -> set[str]:
    return {c["image"] for _, spec in pod_specs(objects) for c in _chart_containers(spec)}


def test_a_tag_override_does_not_pull_the_released_digest(helm: Path) -> None:
    # What the release workflow publishes: the appVersion image pinned by its digest.
    released = {"repository": "ghcr.io/tasks-api/tasks-api", "appVersionDigest": OLD_DIGEST}
    assert _image(render_with(helm, DEFAULT, image=released)) == {
        f"ghcr.io/tasks-api/tasks-api:{APP_VERSION}@{OLD_DIGEST}"
    }
    overridden = render_with(helm, DEFAULT, image={**released, "tag": "9.9.9"})
    assert _image(overridden) == {"ghcr.io/tasks-api/tasks-api:9.9.9"}


def test_the_released_digest_applies_to_its_own_tag_and_a_pinned_digest_always(
    helm: Path,
) -> None:
    same = render_with(helm, DEFAULT, image={"tag": APP_VERSION, "appVersionDigest": OLD_DIGEST})
    assert _image(same) == {f"ghcr.io/tasks-api/tasks-api:{APP_VERSION}@{OLD_DIGEST}"}
    pinned = render_with(
        helm,
        DEFAULT,
        image={"tag": "9.9.9", "digest": PINNED_DIGEST, "appVersionDigest": OLD_DIGEST},
    )
    assert _image(pinned) == {f"ghcr.io/tasks-api/tasks-api:9.9.9@{PINNED_DIGEST}"}
