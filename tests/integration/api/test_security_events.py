"""Security events: one JSON line each (`event=security.*`) and a counter, never a secret."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from service.config import Settings
from service.domains.users import service as users_service
from tests.integration.api.helpers import PASSWORD, login, register, unique_email
from tests.integration.api.login_support import Clock
from tests.support.apps import asgi_client, new_app, started

CLIENT = ("10.1.2.3", 4567)
WRONG = "wrong-password-that-must-not-leak"


@pytest.fixture
async def app_at_info(settings: Settings, clean_database: None) -> AsyncIterator[FastAPI]:
    # Logging is process-wide: the app created last decides the level.
    async with started(new_app(settings.model_copy(update={"log_level": "INFO"}))) as app:
        yield app


@pytest.fixture
async def http(app_at_info: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app_at_info, client=CLIENT) as client:
        yield client


def security_lines(captured: str) -> list[dict[str, Any]]:
    """The security event lines among captured JSON log lines."""
    lines = [json.loads(raw) for raw in captured.splitlines() if raw.startswith("{")]
    return [line for line in lines if str(line.get("event", "")).startswith("security.")]


def counted(event: str) -> float:
    """The in-process value of the security event counter."""
    value = REGISTRY.get_sample_value("tasks_api_security_events_total", {"event": event})
    return value or 0.0


async def _user(http: httpx.AsyncClient, app: FastAPI) -> tuple[str, str]:
    email = unique_email("sec")
    created = await register(http, app, email=email)
    assert created.status_code == 201, created.text
    return email, created.json()["id"]


async def test_failed_logins_are_security_events_with_user_and_address(
    http: httpx.AsyncClient, app_at_info: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    email, user_id = await _user(http, app_at_info)
    before = counted("login_failed")
    capfd.readouterr()

    assert (await login(http, app_at_info, email, WRONG)).status_code in (400, 401)
    ghost = unique_email("ghost")
    assert (await login(http, app_at_info, ghost, WRONG)).status_code in (400, 401)

    captured = capfd.readouterr().out
    wrong, unknown = security_lines(captured)
    assert wrong["event"] == unknown["event"] == "security.login_failed"
    assert (wrong["reason"], wrong["user_id"], wrong["client"]) == (
        "wrong_password",
        user_id,
        "10.1.2.3",
    )
    assert (unknown["reason"], unknown["user_id"], unknown["client"]) == (
        "unknown_user",
        None,
        "10.1.2.3",
    )
    assert wrong["logger"] == "service.security"
    assert wrong["request_id"]
    assert counted("login_failed") == before + 2
    # Neither the password nor the e-mail typed at login (it may be a password) is logged.
    for secret in (WRONG, email, ghost):
        assert secret not in captured


async def test_a_successful_login_writes_no_security_event(
    http: httpx.AsyncClient, app_at_info: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    email, _ = await _user(http, app_at_info)
    before = counted("login_failed")
    capfd.readouterr()

    response = await login(http, app_at_info, email)

    assert response.status_code == 200, response.text
    captured = capfd.readouterr().out
    assert security_lines(captured) == []
    assert counted("login_failed") == before
    assert PASSWORD not in captured
    assert response.json()["access_token"] not in captured


async def test_the_lockout_is_one_event_and_locked_attempts_are_failures(
    http: httpx.AsyncClient,
    app_at_info: FastAPI,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email, user_id = await _user(http, app_at_info)
    before = counted("lockout")
    clock = Clock()  # failures a minute apart: the back-off between them never applies
    monkeypatch.setattr(users_service, "utcnow", clock)
    capfd.readouterr()

    for _ in range(users_service.MAX_FAILED_LOGINS):
        clock.advance()
        await login(http, app_at_info, email, WRONG)
    locked = await login(http, app_at_info, email, PASSWORD)

    assert locked.status_code == 429
    lines = security_lines(capfd.readouterr().out)
    lockouts = [line for line in lines if line["event"] == "security.lockout"]
    assert len(lockouts) == 1
    assert lockouts[0]["user_id"] == user_id
    assert lockouts[0]["client"] == "10.1.2.3"
    assert lockouts[0]["level"] == "warning"
    assert 0 < lockouts[0]["retry_after_seconds"] <= 900
    assert lines[-1]["event"] == "security.login_failed"
    assert lines[-1]["reason"] == "locked"
    assert counted("lockout") == before + 1


async def _refresh(http: httpx.AsyncClient, app: FastAPI, token: str) -> httpx.Response:
    return await http.post(app.url_path_for("refreshToken"), json={"refresh_token": token})


async def test_refresh_reuse_logs_reuse_and_revocation_never_the_tokens(
    http: httpx.AsyncClient, app_at_info: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    email, user_id = await _user(http, app_at_info)
    pair = (await login(http, app_at_info, email)).json()
    rotated = (await _refresh(http, app_at_info, pair["refresh_token"])).json()
    before = counted("refresh_reuse"), counted("tokens_revoked"), counted("revoked_token_used")
    capfd.readouterr()

    reuse = await _refresh(http, app_at_info, pair["refresh_token"])
    stale = await http.get(
        app_at_info.url_path_for("getCurrentUser"),
        headers={"Authorization": f"Bearer {rotated['access_token']}"},
    )

    assert reuse.status_code == stale.status_code == 401
    captured = capfd.readouterr().out
    reused, revoked, used = security_lines(captured)
    assert [reused["event"], revoked["event"], used["event"]] == [
        "security.refresh_reuse",
        "security.tokens_revoked",
        "security.revoked_token_used",
    ]
    assert {line["user_id"] for line in (reused, revoked, used)} == {user_id}
    assert {line["client"] for line in (reused, revoked, used)} == {"10.1.2.3"}
    assert reused["family_id"] == revoked["family_id"]
    assert revoked["revoked"] == 2  # the used token and the rotated one of the family
    after = counted("refresh_reuse"), counted("tokens_revoked"), counted("revoked_token_used")
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)
    for secret in (pair["refresh_token"], rotated["refresh_token"], rotated["access_token"]):
        assert secret not in captured


async def test_replaying_a_revoked_family_revokes_nothing_more(
    http: httpx.AsyncClient, app_at_info: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    email, _ = await _user(http, app_at_info)
    pair = (await login(http, app_at_info, email)).json()
    await _refresh(http, app_at_info, pair["refresh_token"])
    await _refresh(http, app_at_info, pair["refresh_token"])  # the reuse: family revoked
    before = counted("tokens_revoked")
    capfd.readouterr()

    again = await _refresh(http, app_at_info, pair["refresh_token"])

    assert again.status_code == 401
    lines = security_lines(capfd.readouterr().out)
    assert [line["event"] for line in lines] == ["security.refresh_reuse"]
    assert counted("tokens_revoked") == before


async def test_an_unknown_refresh_token_is_no_reuse_event(
    http: httpx.AsyncClient, app_at_info: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()

    response = await _refresh(http, app_at_info, "never-issued-refresh-token")

    assert response.status_code == 401
    captured = capfd.readouterr().out
    assert security_lines(captured) == []
    assert "never-issued-refresh-token" not in captured
