"""`redocly lint` (pinned in .ci/install-tools.sh) finds no error in /openapi.json.

The rules are redocly.yaml's: recommended-strict plus stricter ones, every finding an
error except the warnings that file lists with their reasons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import REPO_ROOT, require_tool, run
from tests.support.apps import asgi_client, make_settings, new_app

CONFIG = REPO_ROOT / "redocly.yaml"

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
async def document() -> dict[str, Any]:
    app = new_app(make_settings("sqlite+aiosqlite:///unused.db"))
    async with asgi_client(app) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _lint(document: dict[str, Any], directory: Path) -> dict[str, Any]:
    redocly = require_tool("redocly")
    path = directory / "openapi.json"
    path.write_text(json.dumps(document))
    done = run([redocly, "lint", path, "--config", CONFIG, "--format", "json"], timeout=120)
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _accepted_warnings() -> set[str]:
    rules: dict[str, str] = yaml.safe_load(CONFIG.read_text())["rules"]
    return {rule for rule, severity in rules.items() if severity == "warn"}


def test_the_document_has_no_error_and_only_accepted_warnings(
    document: dict[str, Any], tmp_path: Path
) -> None:
    report = _lint(document, tmp_path)
    problems = [
        (p["ruleId"], p["severity"], p["location"][0]["pointer"]) for p in report["problems"]
    ]
    assert report["totals"]["errors"] == 0, problems
    unexpected = [problem for problem in problems if problem[0] not in _accepted_warnings()]
    assert not unexpected, unexpected


def test_every_accepted_warning_has_its_reason_in_the_config() -> None:
    lines = CONFIG.read_text().splitlines()
    for rule in _accepted_warnings():
        index = next(i for i, line in enumerate(lines) if line.strip() == f"{rule}: warn")
        assert lines[index - 1].lstrip().startswith("#"), f"{rule} is accepted without a reason"


def test_the_lint_fails_a_document_with_an_undocumented_error_shape_or_no_tags(
    document: dict[str, Any], tmp_path: Path
) -> None:
    broken = json.loads(json.dumps(document))
    operation = broken["paths"]["/api/v1/tasks"]["get"]
    operation["responses"]["401"]["content"] = {"application/json": {"schema": {"type": "object"}}}
    del broken["tags"]
    report = _lint(broken, tmp_path)
    failed = {p["ruleId"] for p in report["problems"] if p["severity"] == "error"}
    assert {"operation-4xx-problem-details-rfc7807", "operation-tag-defined"} <= failed
