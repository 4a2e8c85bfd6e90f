"""skaffold.yaml agrees with the chart (no skaffold binary here: structure and renders)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.chart.tools import CHART_DIR, REPO_ROOT, Manifest, find_object, parse_manifests, run

SKAFFOLD: dict[str, Any] = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
VALUES: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
DEV_POSTGRES = REPO_ROOT / "deploy" / "dev" / "postgres"
MIN_SCHEMA = 11  # skaffold/v4beta11


def _has_path(values: dict[str, Any], dotted: str) -> bool:
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def releases(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Helm releases of the base config and of each profile that has its own deploy."""
    found = {"base": config["deploy"]["helm"]["releases"]}
    for profile in config.get("profiles", []):
        if "deploy" in profile:
            found[profile["name"]] = profile["deploy"]["helm"]["releases"]
    return found


def skaffold_problems(config: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Where skaffold.yaml disagrees with the chart or with itself."""
    problems: list[str] = []
    version = re.fullmatch(r"skaffold/v4beta(\d+)", config.get("apiVersion", ""))
    if not version or int(version[1]) < MIN_SCHEMA:
        problems.append(f"apiVersion {config.get('apiVersion')} is not skaffold/v4beta11+")
    (artifact,) = config["build"]["artifacts"]
    image = artifact["image"]
    if values["image"]["repository"].rsplit("/", 1)[-1] != image:
        problems.append(f"artifact {image} is not the chart's image repository")
    if "gitCommit" not in config["build"].get("tagPolicy", {}):
        problems.append("images are not tagged from git")
    key = image.replace("-", "_").replace(".", "_")
    expected = {
        "image.repository": f"{{{{.IMAGE_REPO_{key}}}}}",
        "image.tag": f"{{{{.IMAGE_TAG_{key}}}}}@{{{{.IMAGE_DIGEST_{key}}}}}",
    }
    for where, items in releases(config).items():
        for release in items:
            if release.get("chartPath") != "chart":
                continue
            templates = release.get("setValueTemplates", {})
            if templates != expected:
                problems.append(f"{where}: setValueTemplates {templates} != {expected}")
            for dotted in [*templates, *release.get("setValues", {})]:
                if not _has_path(values, dotted):
                    problems.append(f"{where}: {dotted} is not a key of values.yaml")
    return problems


def test_skaffold_config_agrees_with_the_chart() -> None:
    assert skaffold_problems(SKAFFOLD, VALUES) == []
    assert SKAFFOLD["kind"] == "Config"
    assert (REPO_ROOT / SKAFFOLD["build"]["artifacts"][0]["docker"]["dockerfile"]).is_file()


def test_a_renamed_artifact_is_reported() -> None:
    config = copy.deepcopy(SKAFFOLD)
    config["build"]["artifacts"][0]["image"] = "tasks"
    problems = skaffold_problems(config, VALUES)
    assert "artifact tasks is not the chart's image repository" in problems
    assert any("setValueTemplates" in p for p in problems)


def test_an_unknown_values_key_or_old_schema_is_reported() -> None:
    config = copy.deepcopy(SKAFFOLD)
    config["apiVersion"] = "skaffold/v2beta29"
    config["deploy"]["helm"]["releases"][0]["setValues"] = {"image.name": "x"}
    problems = skaffold_problems(config, VALUES)
    assert any("apiVersion" in p for p in problems)
    assert "base: image.name is not a key of values.yaml" in problems


def test_dev_profiles_install_postgres_first_and_wait_for_it() -> None:
    for profile in ("dev", "observability"):
        names = [r["name"] for r in releases(SKAFFOLD)[profile]]
        assert names.index("postgres") < names.index("tasks-api"), profile
        postgres = releases(SKAFFOLD)[profile][names.index("postgres")]
        assert postgres["wait"] is True
        assert Path(REPO_ROOT / postgres["chartPath"]) == DEV_POSTGRES
    names = [r["name"] for r in releases(SKAFFOLD)["observability"]]
    assert names[0] == "kube-prometheus-stack", "the CRDs must exist before the ServiceMonitor"


def test_every_profile_forwards_the_app_and_metrics_ports() -> None:
    forwards = {"base": SKAFFOLD["portForward"]}
    forwards |= {p["name"]: p["portForward"] for p in SKAFFOLD["profiles"] if "portForward" in p}
    for where, items in forwards.items():
        ports = {(f["resourceName"], f["port"]) for f in items}
        assert {("tasks-api", 8000), ("tasks-api", 9000)} <= ports, where
    assert ("kube-prometheus-stack-grafana", 80) in {
        (f["resourceName"], f["port"]) for f in forwards["observability"]
    }


def _render_release(helm: Path, release: dict[str, Any]) -> list[Manifest]:
    command: list[str | Path] = [helm, "template", release["name"], REPO_ROOT / "chart"]
    command += ["--namespace", release["namespace"]]
    for path in release.get("valuesFiles", []):
        command += ["--values", REPO_ROOT / path]
    sets = {
        "image.repository": "tasks-api",
        "image.tag": "abc1234@",
        **release.get("setValues", {}),
    }
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    result = run(command)
    assert result.returncode == 0, result.stderr
    return parse_manifests(result.stdout)


@pytest.mark.parametrize("profile", ["base", "dev", "observability"])
def test_each_profile_renders(helm: Path, profile: str) -> None:
    (release,) = [r for r in releases(SKAFFOLD)[profile] if r.get("chartPath") == "chart"]
    objects = _render_release(helm, release)
    deployment = find_object(objects, "Deployment", "tasks-api")
    # skaffold's "<tag>@" (no digest for an unpushed local build) must still be an image.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "tasks-api:abc1234"


def test_dev_database_url_points_at_the_dev_postgres(helm: Path) -> None:
    (release,) = [r for r in releases(SKAFFOLD)["dev"] if r.get("chartPath") == "chart"]
    dev_values = yaml.safe_load((REPO_ROOT / release["valuesFiles"][0]).read_text())
    postgres_values = yaml.safe_load((DEV_POSTGRES / "values.yaml").read_text())
    url = make_url(dev_values["secret"]["databaseUrl"])
    assert (url.host, url.port, url.database) == ("postgres", 5432, postgres_values["database"])
    assert (url.username, url.password) == (postgres_values["user"], postgres_values["password"])
    result = run([helm, "template", "postgres", DEV_POSTGRES, "--namespace", "tasks-api"])
    assert result.returncode == 0, result.stderr
    service = find_object(parse_manifests(result.stdout), "Service", "postgres")
    assert service["spec"]["ports"][0]["port"] == 5432


def test_dev_postgres_chart_lints(helm: Path) -> None:
    result = run([helm, "lint", "--strict", DEV_POSTGRES])
    assert result.returncode == 0, result.stdout + result.stderr
