"""The bundle's Alertmanager config: valid, and its inhibition keeps one incident to one page.

A real Alertmanager (Debian's prometheus-alertmanager) loads
observability/alertmanager/alertmanager.yml; the test posts alerts as
Prometheus would and reads back which ones Alertmanager suppresses.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.observability.conftest import find_tool
from tests.observability.paths import OBSERVABILITY
from tests.support.server import free_port

CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
PROD = {"job": "tasks-api", "namespace": "prod", "service": "tasks-api"}
STAGING = {"job": "tasks-api", "namespace": "staging", "service": "tasks-api"}

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Alertmanager with the bundle's config; its base URL."""
    binary = find_tool("prometheus-alertmanager")
    port = free_port()
    directory = tmp_path_factory.mktemp("alertmanager")
    log = (directory / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={CONFIG}",
            f"--storage.path={directory}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, (directory / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _post(url: str, *alerts: tuple[str, dict[str, str]]) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": {"alertname": name, "severity": "warning", **labels},
            "annotations": {"summary": name},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=10)).isoformat(),
        }
        for name, labels in alerts
    ]
    response = httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5)
    assert response.status_code == 200, response.text


def _states(url: str, names: set[str], timeout: float = 20) -> dict[tuple[str, str], str]:
    """Alert state by (alertname, namespace), once every named alert is known."""
    deadline = time.monotonic() + timeout
    states: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        alerts: list[dict[str, Any]] = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
        states = {
            (a["labels"]["alertname"], a["labels"].get("namespace", "")): a["status"]["state"]
            for a in alerts
        }
        if {name for name, _ in states} >= names and "unprocessed" not in states.values():
            return states
        time.sleep(0.3)
    return states


def test_amtool_accepts_the_config() -> None:
    amtool = find_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 inhibit rules" in result.stdout


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    amtool = find_tool("amtool")
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text().replace("receiver: page", "receiver: nobody"))
    result = subprocess.run(
        [amtool, "check-config", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_a_fast_burn_mutes_the_error_rate_warning_and_the_ticket(alertmanager: str) -> None:
    _post(
        alertmanager,
        ("TasksApiAvailabilityBudgetBurnFast", PROD),
        ("TasksApiHighErrorRate", PROD),
        ("TasksApiAvailabilityBudgetBurnSlow", PROD),
        # Another namespace's warning is not explained by prod's burn.
        ("TasksApiHighErrorRate", STAGING),
    )
    states = _states(
        alertmanager,
        {"TasksApiAvailabilityBudgetBurnFast", "TasksApiHighErrorRate"},
    )
    assert states[("TasksApiAvailabilityBudgetBurnFast", "prod")] == "active"
    assert states[("TasksApiHighErrorRate", "prod")] == "suppressed"
    assert states[("TasksApiAvailabilityBudgetBurnSlow", "prod")] == "suppressed"
    assert states[("TasksApiHighErrorRate", "staging")] == "active"


def test_all_targets_down_mutes_the_rest_but_not_itself(alertmanager: str) -> None:
    _post(
        alertmanager,
        ("TasksApiAllTargetsDown", {**PROD, "namespace": "dark"}),
        ("TasksApiTargetDown", {**PROD, "namespace": "dark", "pod": "p1"}),
        ("TasksApiLatencySLIAbsent", {**PROD, "namespace": "dark"}),
    )
    states = _states(alertmanager, {"TasksApiAllTargetsDown", "TasksApiTargetDown"})
    assert states[("TasksApiAllTargetsDown", "dark")] == "active"
    assert states[("TasksApiTargetDown", "dark")] == "suppressed"
    assert states[("TasksApiLatencySLIAbsent", "dark")] == "suppressed"


def test_a_warning_alone_is_not_muted(alertmanager: str) -> None:
    _post(alertmanager, ("TasksApiHighLatency", {**PROD, "namespace": "alone"}))
    states = _states(alertmanager, {"TasksApiHighLatency"})
    assert states[("TasksApiHighLatency", "alone")] == "active"
