"""GitHub workflows (actionlint, pinned actions, least privilege) and yamllint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import REPO_ROOT, require_tool, run

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")


def _load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True.
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def pinning_problems(text: str) -> list[str]:
    """`uses:` lines that are not pinned to a full commit SHA with a # vX.Y.Z comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not match or match[1].startswith(("./", "docker://")):
            continue
        if not PINNED.match(match[1]):
            problems.append(f"line {number}: {match[1]} is not pinned to a commit SHA")
        elif not VERSION_COMMENT.search(match[2]):
            problems.append(f"line {number}: {match[1]} has no '# vX.Y.Z' comment")
    return problems


def permission_problems(workflow: dict[str, Any]) -> list[str]:
    """Least privilege: read-only contents at the top, write scopes only per job."""
    problems = []
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append(f"top-level permissions are {workflow.get('permissions')!r}")
    for name, job in workflow.get("jobs", {}).items():
        permissions = job.get("permissions", {})
        if isinstance(permissions, str):
            problems.append(f"job {name}: permissions {permissions!r}")
    return problems


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return require_tool("actionlint")


def test_the_three_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "e2e.yml", "release.yml"]


def test_actionlint_passes(actionlint: Path) -> None:
    result = run([actionlint, "-no-color", *WORKFLOWS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_flags_a_bad_expression(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nope.nope( }}\n"
    )
    result = run([actionlint, "-no-color", broken])
    assert result.returncode != 0


def test_actionlint_flags_an_unknown_runner_key(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-onn: ubuntu-24.04\n    steps: []\n")
    result = run([actionlint, "-no-color", broken])
    assert result.returncode != 0
    assert "runs-onn" in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(path: Path) -> None:
    assert "uses:" in path.read_text()
    assert pinning_problems(path.read_text()) == []


def test_pinning_check_flags_a_tag_and_a_missing_comment() -> None:
    text = (
        "      - uses: actions/checkout@v4\n"
        "      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065\n"
    )
    problems = pinning_problems(text)
    assert problems == [
        "line 1: actions/checkout@v4 is not pinned to a commit SHA",
        "line 2: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 has no "
        "'# vX.Y.Z' comment",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    assert permission_problems(_load(path)) == []


def test_permission_check_flags_write_all() -> None:
    workflow = {"permissions": "write-all", "jobs": {"a": {"permissions": "write-all"}}}
    assert len(permission_problems(workflow)) == 2


def test_only_release_jobs_write_packages_and_request_oidc_tokens() -> None:
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            permissions = job.get("permissions", {})
            writes = {k for k, v in permissions.items() if v == "write"}
            if path.name == "release.yml" and "uses" not in job:
                assert writes == {"packages", "id-token"}, name
            else:
                assert writes == set(), f"{path.name}:{name}"


def test_ci_runs_the_project_ci_against_postgres() -> None:
    workflow = _load(WORKFLOWS_DIR / "ci.yml")
    checks = workflow["jobs"]["checks"]
    assert checks["env"]["REQUIRE_POSTGRES"] == "1"
    assert "postgres" in checks["services"]
    assert any(step.get("run") == "bash .ci/run" for step in checks["steps"])


def test_e2e_installs_tests_upgrades_and_rolls_back() -> None:
    text = (WORKFLOWS_DIR / "e2e.yml").read_text()
    for needle in (
        "helm install",
        "--wait",
        "completionTime",
        'type=="Available"',
        "helm test",
        "helm upgrade",
        "helm rollback",
        "kind load docker-image",
    ):
        assert needle in text, needle


def test_release_pins_the_image_in_values_it_can_find() -> None:
    # release.yml rewrites these three lines of chart/values.yaml with sed. The digest goes
    # to appVersionDigest, never to digest: a user's tag override must not keep it.
    lines = (REPO_ROOT / "chart" / "values.yaml").read_text().splitlines()
    for pattern in (r"^  repository: \S+$", r'^  tag: ""$', r'^  appVersionDigest: ""$'):
        assert len([line for line in lines if re.match(pattern, line)]) == 1, pattern
    text = (WORKFLOWS_DIR / "release.yml").read_text()
    assert "s#^  repository: .*#" in text and r"s#^  appVersionDigest: \"\"#" in text
    assert r"s#^  digest:" not in text


def test_release_publishes_only_after_ci_and_e2e_pass_on_the_tagged_commit() -> None:
    jobs = _load(WORKFLOWS_DIR / "release.yml")["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["e2e"]["uses"] == "./.github/workflows/e2e.yml"
    assert sorted(jobs["image"]["needs"]) == ["ci", "e2e"]
    assert jobs["chart"]["needs"] == "image"
    for called in ("ci.yml", "e2e.yml"):
        assert "workflow_call" in _load(WORKFLOWS_DIR / called)["on"], called
    assert "Change visibility > Public" in (WORKFLOWS_DIR / "release.yml").read_text()


def test_release_publishes_signed_multi_arch_image_and_chart() -> None:
    workflow = _load(WORKFLOWS_DIR / "release.yml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    build = next(s for s in workflow["jobs"]["image"]["steps"] if s.get("id") == "build")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    text = (WORKFLOWS_DIR / "release.yml").read_text()
    for needle in ("cosign sign --yes", "helm package", "helm push", "oci://ghcr.io/", "--version"):
        assert needle in text, needle


@pytest.fixture(scope="module")
def yamllint() -> Path:
    return require_tool("yamllint")


def test_yamllint_passes_on_the_repository(yamllint: Path) -> None:
    result = run([yamllint, "--format", "parsable", "."])
    errors = [line for line in result.stdout.splitlines() if "[error]" in line]
    assert errors == []
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_flags_a_duplicate_key(yamllint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\n")
    result = run([yamllint, "--config-file", REPO_ROOT / ".yamllint.yaml", bad])
    assert result.returncode != 0
    assert "duplicate" in result.stdout


def test_yamllint_config_leaves_helm_templates_to_helm(yamllint: Path) -> None:
    template = REPO_ROOT / "chart" / "templates" / "deployment.yaml"
    forced = run([yamllint, "--config-data", "extends: default", template])
    assert forced.returncode != 0, "templates are not YAML; the exclusion must be needed"
    listed = run([yamllint, "--list-files", "."])
    assert "chart/templates/" not in listed.stdout
    assert "chart/values.yaml" in listed.stdout


def test_chart_metadata_for_artifact_hub() -> None:
    text = (REPO_ROOT / "chart" / "Chart.yaml").read_text()
    chart = yaml.safe_load(text)
    assert chart["home"].startswith("https://github.com/")
    assert chart["sources"] and chart["icon"].endswith("chart/icon.svg")
    assert (REPO_ROOT / "chart" / "icon.svg").is_file()
    annotations = chart["annotations"]
    (image,) = yaml.safe_load(annotations["artifacthub.io/images"])
    assert image["image"] == f"ghcr.io/tasks-api/tasks-api:{chart['appVersion']}"
    changes = yaml.safe_load(annotations["artifacthub.io/changes"])
    assert changes and all(c["kind"] in {"added", "changed", "fixed", "removed"} for c in changes)
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    # release.yml rewrites the image line (one line, found by this pattern).
    assert len(re.findall(r"(?m)^      image: ghcr.io/tasks-api/tasks-api:.*$", text)) == 1
    assert (
        "s#^      image: ghcr.io/tasks-api/tasks-api:.*#"
        in (WORKFLOWS_DIR / "release.yml").read_text()
    )
