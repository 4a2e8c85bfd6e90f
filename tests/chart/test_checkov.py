"""checkov (kubernetes framework) on the rendered default, production, OpenShift and
CloudNativePG value sets.

checkov takes ~15 s to start, so one session-scoped run scans all four sets; every finding
must be explained in tests/chart/checkov_skips.py and every skip there must still be
needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.checkov_skips import SKIPS, Skip, unexplained, unused
from tests.chart.tools import Manifest, run

SCANNED_SETS = ("default", "production", "openshift", "cloudnativepg")
Finding = tuple[str, str, str]


def checkov_findings(checkov: Path, directory: Path, framework: str) -> dict[str, Any]:
    """checkov's JSON report for a directory (one framework, no network)."""
    result = run(
        [
            checkov,
            "--directory",
            directory,
            "--framework",
            framework,
            "--skip-download",
            "--output",
            "json",
            "--quiet",
            "--compact",
        ],
        timeout=300,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (ours,) = [r for r in reports if r.get("check_type") == framework]
    assert isinstance(ours, dict)
    return ours


def failed(report: dict[str, Any], target_of_file: dict[str, str]) -> list[Finding]:
    """(check id, target, resource) of every failed check."""
    return [
        (check["check_id"], target_of_file[Path(check["file_path"]).name], check["resource"])
        for check in report["results"]["failed_checks"]
    ]


@pytest.fixture(scope="session")
def chart_scan(
    checkov: Path, rendered: dict[str, list[Manifest]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Finding], int]:
    directory = tmp_path_factory.mktemp("checkov-chart")
    for name in SCANNED_SETS:
        (directory / f"{name}.yaml").write_text(yaml.safe_dump_all(rendered[name]))
    report = checkov_findings(checkov, directory, "kubernetes")
    passed = int(report["summary"]["passed"])
    return failed(report, {f"{name}.yaml": name for name in SCANNED_SETS}), passed


def test_checkov_scanned_the_rendered_objects(chart_scan: tuple[list[Finding], int]) -> None:
    findings, passed = chart_scan
    # Hundreds of checks run on the two sets; a scan that saw nothing would pass trivially.
    assert passed > 300
    assert {target for _, target, _ in findings} <= set(SCANNED_SETS)


def test_no_unexplained_checkov_finding(chart_scan: tuple[list[Finding], int]) -> None:
    findings, _ = chart_scan
    assert unexplained(findings) == []


def test_every_chart_skip_is_still_needed(chart_scan: tuple[list[Finding], int]) -> None:
    findings, _ = chart_scan
    assert unused(findings, set(SCANNED_SETS)) == []


def test_skips_have_reasons_and_known_targets() -> None:
    for skip in SKIPS:
        assert len(skip.reason) > 40, skip.check_id
        assert skip.targets <= {*SCANNED_SETS, "dockerfile"}, skip.check_id


def test_an_uncovered_finding_is_reported() -> None:
    finding = ("CKV_K8S_16", "production", "Deployment.tasks-api.tasks-api")
    assert unexplained([finding]) == [finding]


def test_a_skip_does_not_cover_another_value_set() -> None:
    # CKV_K8S_43 is accepted for the sets without a digest only: production pins one.
    finding = ("CKV_K8S_43", "production", "Deployment.tasks-api.tasks-api")
    assert unexplained([finding]) == [finding]


def test_a_stale_skip_is_reported() -> None:
    stale = unused([], {"default"})
    assert {skip.check_id for skip in stale} >= {"CKV_K8S_43", "CKV_K8S_15"}
    assert all(isinstance(skip, Skip) for skip in stale)
