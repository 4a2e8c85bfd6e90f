"""Security events of a real two-worker `tasks-api serve`: exact counters, JSON lines, no secret."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.observability.live.processes import sample_sum, scrape
from tests.support.server import ServiceProcess, running_service

PASSWORD = "a long enough password 1"
WRONG = "wrong password that must not leak"
LOGINS = 4


def _security_lines(service: ServiceProcess) -> list[dict[str, Any]]:
    lines = [json.loads(raw) for raw in service.logs().splitlines() if raw.startswith("{")]
    return [line for line in lines if str(line.get("event", "")).startswith("security.")]


def _counted(service: ServiceProcess, event: str) -> float:
    samples = scrape(service.metrics_url)
    return sample_sum(samples, "tasks_api_security_events_total", event=event)


def _settled(service: ServiceProcess, event: str, expected: float) -> float:
    # A worker counts just before its answer goes out; give the last one a moment.
    deadline = time.monotonic() + 5
    value = _counted(service, event)
    while value < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = _counted(service, event)
    return value


def test_security_events_of_a_served_app_are_exact_and_secret_free(tmp_path: Path) -> None:
    env = {"WEB_CONCURRENCY": "2", "GRACEFUL_TIMEOUT_SECONDS": "5"}
    with running_service(env, cwd=tmp_path) as service:
        assert _counted(service, "login_failed") == 0
        assert _counted(service, "refresh_reuse") == 0
        email = f"served-{uuid.uuid4().hex[:8]}@example.com"
        created = httpx.post(
            f"{service.base_url}/api/v1/users", json={"email": email, "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        for _ in range(LOGINS):
            # A new connection each time, so that both workers answer some.
            with httpx.Client(base_url=service.base_url, timeout=30) as http:
                refused = http.post(
                    "/api/v1/auth/token", data={"username": email, "password": WRONG}
                )
            assert refused.status_code in (400, 401)
        pair = httpx.post(
            f"{service.base_url}/api/v1/auth/token",
            data={"username": email, "password": PASSWORD},
            timeout=30,
        ).json()
        refresh = f"{service.base_url}/api/v1/auth/refresh"
        httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        reuse = httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        assert reuse.status_code == 401

        assert _settled(service, "login_failed", LOGINS) == LOGINS
        assert _settled(service, "refresh_reuse", 1) == 1
        assert _counted(service, "tokens_revoked") == 1
        lines = _security_lines(service)
        logs = service.logs()

    failed = [line for line in lines if line["event"] == "security.login_failed"]
    assert len(failed) == LOGINS
    assert {(line["reason"], line["user_id"], line["client"]) for line in failed} == {
        ("wrong_password", created.json()["id"], "127.0.0.1")
    }
    assert [line["event"] for line in lines[LOGINS:]] == [
        "security.refresh_reuse",
        "security.tokens_revoked",
    ]
    for secret in (PASSWORD, WRONG, email, pair["refresh_token"], pair["access_token"]):
        assert secret not in logs
