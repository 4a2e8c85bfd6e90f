"""Static checks of the Dockerfile: hadolint, checkov, and the image contract."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.chart.checkov_skips import unexplained, unused
from tests.chart.test_checkov import checkov_findings, failed
from tests.chart.tools import REPO_ROOT, require_tool, run
from tests.image.dockerfile import instructions

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
DIGEST_PINNED = re.compile(r"^[\w.\-/]+(:[\w.\-]+)?@sha256:[0-9a-f]{64}$")


def base_images(text: str) -> list[str]:
    """The image reference of every FROM, with ARG defaults expanded; stages by name."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for keyword, rest in instructions(text):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args.setdefault(name, value)
        elif keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], parts[0])
            if image not in stages:
                images.append(image)
            if len(parts) == 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
    return images


def runtime_stage(text: str) -> list[tuple[str, str]]:
    """Instructions after the last FROM."""
    steps = instructions(text)
    last = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last + 1 :]


def contract_problems(text: str) -> list[str]:
    """Where the runtime stage breaks the image contract of tasks-api."""
    stage = runtime_stage(text)
    problems: list[str] = []
    values = dict(stage)
    if values.get("USER") != "65532:65532":
        problems.append(f"USER is {values.get('USER')!r}, not numeric 65532:65532")
    if values.get("ENTRYPOINT") != '["python", "-m", "service"]':
        problems.append(f"ENTRYPOINT is {values.get('ENTRYPOINT')!r}")
    if values.get("CMD") != '["serve"]':
        problems.append(f"CMD is {values.get('CMD')!r}")
    if sorted(values.get("EXPOSE", "").split()) != ["8000", "9000"]:
        problems.append(f"EXPOSE is {values.get('EXPOSE')!r}")
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env |= dict(pair.partition("=")[::2] for pair in shlex.split(rest))
    if env.get("HOST") != "0.0.0.0":  # noqa: S104 - the container's own address
        problems.append("HOST is not 0.0.0.0")
    if env.get("ENVIRONMENT") != "production":
        problems.append(f"ENVIRONMENT is {env.get('ENVIRONMENT')!r}, not production")
    if env.get("PROMETHEUS_MULTIPROC_DIR") != "/run/tasks-api/metrics":
        problems.append("PROMETHEUS_MULTIPROC_DIR is not /run/tasks-api/metrics")
    if not env.get("PATH", "").startswith("/opt/venv/bin:"):
        problems.append("python does not resolve to the venv first")
    for keyword in ("RUN", "SHELL"):
        if keyword in values:
            problems.append(f"{keyword} in the runtime stage: the base has no shell")
    return problems


def test_runtime_stage_keeps_the_contract() -> None:
    assert contract_problems(DOCKERFILE.read_text()) == []


def test_contract_check_flags_a_named_user_and_shell_form() -> None:
    text = "FROM x@sha256:" + "0" * 64 + "\nUSER nonroot\nENTRYPOINT python -m service\n"
    problems = contract_problems(text)
    assert "USER is 'nonroot', not numeric 65532:65532" in problems
    assert "ENTRYPOINT is 'python -m service'" in problems


def test_contract_check_flags_missing_ports_and_a_shell_step() -> None:
    text = DOCKERFILE.read_text().replace("EXPOSE 8000 9000", "EXPOSE 8000") + "RUN ls\n"
    problems = contract_problems(text)
    assert "EXPOSE is '8000'" in problems
    assert "RUN in the runtime stage: the base has no shell" in problems


@pytest.mark.parametrize("replacement", ["ENVIRONMENT=development", "TASKS_API_MODE=production"])
def test_contract_check_flags_an_image_that_is_not_production(replacement: str) -> None:
    text = DOCKERFILE.read_text().replace("ENVIRONMENT=production", replacement)
    problems = contract_problems(text)
    assert any(problem.startswith("ENVIRONMENT is") for problem in problems), problems


def test_every_base_image_is_pinned_by_digest() -> None:
    images = base_images(DOCKERFILE.read_text())
    assert len(images) == 2
    assert all(DIGEST_PINNED.match(image) for image in images), images
    assert images[-1].startswith("gcr.io/distroless/python3-debian12:")


def test_digest_check_flags_a_tag_only_base() -> None:
    images = base_images("ARG BASE=debian:12-slim\nFROM ${BASE} AS b\nFROM b\n")
    assert images == ["debian:12-slim"]
    assert not DIGEST_PINNED.match(images[0])


def test_digest_check_flags_latest() -> None:
    assert not DIGEST_PINNED.match(base_images("FROM python:latest\n")[0])


def test_builder_installs_locked_runtime_dependencies_only() -> None:
    text = DOCKERFILE.read_text()
    syncs = re.findall(r"uv sync ([^\n\\]*)", text)
    assert syncs and all({"--frozen", "--no-dev", "--no-editable"} <= set(s.split()) for s in syncs)
    assert "UV_COMPILE_BYTECODE=1" in text
    assert "SETUPTOOLS_SCM_PRETEND_VERSION=" in text
    # Migrations ship inside the wheel; the build checks they are where migrate looks.
    assert "m.PACKAGED_HOME" in text


def test_labels_name_version_revision_and_source() -> None:
    labels = " ".join(
        rest for keyword, rest in runtime_stage(DOCKERFILE.read_text()) if keyword == "LABEL"
    )
    for key in ("version", "revision", "source", "created", "licenses", "title"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_build_context_is_an_allowlist() -> None:
    lines = [
        line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "alembic.ini",
        "service",
        "migrations",
    }
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = {src.rstrip("/") for line in copied for src in line.split()}
    assert sources <= allowed


def test_hadolint_passes_at_warning_threshold() -> None:
    hadolint = require_tool("hadolint")
    result = run([hadolint, "--failure-threshold", "warning", "--format", "json", DOCKERFILE])
    assert result.returncode == 0, result.stdout
    assert [f for f in json.loads(result.stdout) if f["level"] in ("error", "warning")] == []


def test_hadolint_flags_an_unpinned_base(tmp_path: Path) -> None:
    hadolint = require_tool("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install -y curl\n")
    result = run([hadolint, "--failure-threshold", "warning", "--format", "json", bad])
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3006", "DL3008"} <= codes


def test_hadolint_config_ignores_no_rule() -> None:
    config = yaml.safe_load((REPO_ROOT / ".hadolint.yaml").read_text())
    assert config["failure-threshold"] == "warning"
    assert not config.get("ignored") and not config.get("override")


@pytest.fixture(scope="module")
def dockerfile_findings(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    checkov = require_tool("checkov")
    directory = tmp_path_factory.mktemp("checkov-dockerfile")
    (directory / "Dockerfile").write_text(DOCKERFILE.read_text())
    report = checkov_findings(checkov, directory, "dockerfile")
    assert int(report["summary"]["passed"]) > 20
    return failed(report, {"Dockerfile": "dockerfile"})


def test_checkov_dockerfile_has_no_unexplained_finding(
    dockerfile_findings: list[tuple[str, str, str]],
) -> None:
    assert unexplained(dockerfile_findings) == []


def test_checkov_dockerfile_skips_are_still_needed(
    dockerfile_findings: list[tuple[str, str, str]],
) -> None:
    assert unused(dockerfile_findings, {"dockerfile"}) == []
