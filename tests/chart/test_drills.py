"""Drills in the chart: off by default, the operator token from a Secret, refused in production."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.tools import RELEASE, Manifest, find_object, helm_template, render_with, set_json

DEFAULT = VALUE_SETS["default"]
TOKEN = "a-drills-operator-token-of-32-bytes-or-more"


def _api_env(objects: list[Manifest]) -> dict[str, Any]:
    deployment = find_object(objects, "Deployment", RELEASE)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {entry["name"]: entry for entry in container.get("env", [])}


def _token_ref(objects: list[Manifest]) -> dict[str, str]:
    ref: dict[str, str] = _api_env(objects)["DRILLS_TOKEN"]["valueFrom"]["secretKeyRef"]
    return ref


def _config(objects: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = find_object(objects, "ConfigMap", RELEASE)["data"]
    return data


def test_by_default_drills_are_off_and_no_token_is_read(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["default"]
    assert _config(objects)["DRILLS_ENABLED"] == "false"
    assert "DRILLS_TOKEN" not in _api_env(objects)
    assert "DRILLS_TOKEN" not in find_object(objects, "Secret", RELEASE)["data"]


def test_a_staging_release_reads_the_token_from_the_chart_made_secret(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["staging-drills"]
    assert _config(objects)["DRILLS_ENABLED"] == "true"
    assert _config(objects)["DRILLS_MAX_DURATION_SECONDS"] == "14400"
    assert _token_ref(objects) == {"name": RELEASE, "key": "DRILLS_TOKEN"}
    secret = find_object(objects, "Secret", RELEASE)
    assert set(secret["data"]) == {"DRILLS_TOKEN"}, "the other credentials stay in theirs"
    # The migration Job never carries the operator token, nor any drill setting.
    job = find_object(objects, "Job", f"{RELEASE}-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert not [entry for entry in container["env"] if entry["name"].startswith("DRILLS_")]


def test_the_token_can_come_from_its_own_existing_secret(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        environment="staging",
        config={"drillsEnabled": True},
        secret={"drillsExistingSecret": "sre-drills", "existingSecretKeys": {"drillsToken": "t"}},
    )
    assert _token_ref(objects) == {"name": "sre-drills", "key": "t"}
    assert "DRILLS_TOKEN" not in find_object(objects, "Secret", RELEASE)["data"]


def test_the_token_comes_from_the_shared_existing_secret_when_no_other_is_given(
    helm: Path,
) -> None:
    objects = render_with(
        helm, VALUE_SETS["existing-secret"], environment="staging", config={"drillsEnabled": True}
    )
    assert _token_ref(objects) == {"name": "tasks-api-credentials", "key": "DRILLS_TOKEN"}


def test_the_chart_made_token_is_the_given_one(helm: Path) -> None:
    objects = render_with(
        helm,
        DEFAULT,
        environment="staging",
        config={"drillsEnabled": True},
        secret={"drillsToken": TOKEN},
    )
    data = find_object(objects, "Secret", RELEASE)["data"]
    assert base64.b64decode(data["DRILLS_TOKEN"]).decode() == TOKEN
    assert _token_ref(objects) == {"name": RELEASE, "key": "DRILLS_TOKEN"}


def _template_error(helm: Path, **values: Any) -> str:
    result = helm_template(helm, values_files=[DEFAULT], extra=set_json(**values))
    assert result.returncode != 0, f"helm template accepted {values}"
    return result.stderr


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ({"drillsToken": ""}, "config.drillsEnabled needs secret.drillsToken"),
        ({"drillsToken": "short"}, "secret.drillsToken must be at least 32 bytes"),
        (
            {"drillsToken": "ci-jwt-secret-that-is-at-least-32-bytes-long"},
            "secret.drillsToken must differ from secret.jwtSecret",
        ),
    ],
    ids=["missing", "short", "the-jwt-secret"],
)
def test_a_missing_or_weak_token_is_refused(
    helm: Path, secret: dict[str, str], message: str
) -> None:
    error = _template_error(
        helm, environment="staging", config={"drillsEnabled": True}, secret=secret
    )
    assert message in error


def test_production_refuses_drills_unless_allowed(helm: Path) -> None:
    values: dict[str, Any] = {"config": {"drillsEnabled": True}, "secret": {"drillsToken": TOKEN}}
    assert "refused with environment production" in _template_error(helm, **values)
    objects = render_with(
        helm,
        DEFAULT,
        config={"drillsEnabled": True, "drillsAllowProduction": True},
        secret=values["secret"],
    )
    assert _config(objects)["DRILLS_ALLOW_PRODUCTION"] == "true"


@pytest.mark.parametrize("seconds", [59, 86_401])
def test_the_maximum_duration_follows_the_services_bounds(helm: Path, seconds: int) -> None:
    assert "drillsMaxDurationSeconds" in _template_error(
        helm, config={"drillsMaxDurationSeconds": seconds}
    )
