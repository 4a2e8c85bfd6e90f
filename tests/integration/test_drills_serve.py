"""Drills in a real `tasks-api serve`: shared by the workers of the process, ended by a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.observability.live.processes import wait_for
from tests.support.processes import children_of
from tests.support.server import running_service

pytestmark = pytest.mark.slow

TOKEN = "serve-drill-operator-token-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
ME = "/api/v1/users/me"


def _answers(base_url: str, count: int) -> list[httpx.Response]:
    """Requests on new connections, so that both workers answer some."""
    answers = []
    for _ in range(count):
        with httpx.Client(base_url=base_url, timeout=10) as client:
            answers.append(client.get(ME))
    return answers


def test_a_restart_ends_every_drill(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    env = {
        "WEB_CONCURRENCY": "2",
        "DRILLS_ENABLED": "true",
        "DRILLS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with running_service(env, cwd=tmp_path) as service:
        wait_for(lambda: len(children_of(service.process.pid)) == 2, 15, "two workers")
        drill = httpx.post(
            f"{service.base_url}/drills",
            json={"kind": "error", "duration_seconds": 3600},
            headers=OPERATOR,
        )
        assert drill.status_code == 201, drill.text
        time.sleep(1.5)
        assert {answer.status_code for answer in _answers(service.base_url, 10)} == {500}
        assert (metrics_dir / "drills.json").exists()

    with running_service(env, cwd=tmp_path) as restarted:
        running = httpx.get(f"{restarted.base_url}/drills", headers=OPERATOR)
        assert running.json() == {"drills": []}
        answers = _answers(restarted.base_url, 10)
        assert {answer.status_code for answer in answers} == {401}
        assert not [answer for answer in answers if "x-drill" in answer.headers]
        assert not (metrics_dir / "drills.json").exists()


def test_drills_are_refused_without_the_flag_even_with_a_token(tmp_path: Path) -> None:
    with running_service({"DRILLS_TOKEN": TOKEN}, cwd=tmp_path) as service:
        response = httpx.post(
            f"{service.base_url}/drills",
            json={"kind": "error", "duration_seconds": 60},
            headers=OPERATOR,
        )
        assert response.status_code == 404
        assert {answer.status_code for answer in _answers(service.base_url, 3)} == {401}
