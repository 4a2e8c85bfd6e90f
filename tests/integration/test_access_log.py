"""Exactly one access line per request, with the route template, at the right level."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from service.config import Settings
from tests.support.apps import new_app, serving


def _access_lines(captured: str) -> list[dict[str, object]]:
    lines = []
    for raw in captured.splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line.get("logger") == "service.access":
                lines.append(line)
    return lines


async def _client_at(settings: Settings, level: str) -> AsyncIterator[httpx.AsyncClient]:
    # Logging is process-wide: the app created last decides the level, so each test
    # creates its own app at the level it needs.
    app = new_app(settings.model_copy(update={"log_level": level}))
    async with serving(app, client=("10.1.2.3", 4567)) as client:
        yield client


@pytest.fixture
async def debug_http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_at(settings, "DEBUG"):
        yield client


@pytest.fixture
async def info_http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_at(settings, "INFO"):
        yield client


async def test_one_line_with_route_template_status_and_ids(
    debug_http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    task_id = uuid.uuid4()
    response = await debug_http.get(f"/api/v1/tasks/{task_id}")
    (line,) = _access_lines(capfd.readouterr().out)
    assert line["route"] == "/api/v1/tasks/{task_id}", "the template, never the raw path"
    assert str(task_id) not in json.dumps(line)
    assert line["method"] == "GET"
    assert line["status"] == response.status_code == 401
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["client"] == "10.1.2.3:4567"
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float)


async def test_probes_log_at_debug_level(
    debug_http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    await debug_http.get("/healthz")
    (line,) = _access_lines(capfd.readouterr().out)
    assert (line["route"], line["level"]) == ("/healthz", "debug")


async def test_probes_are_silent_at_info_level(
    info_http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    await info_http.get("/healthz")
    await info_http.get("/nothing-here")
    lines = _access_lines(capfd.readouterr().out)
    assert [(line["route"], line["status"]) for line in lines] == [(None, 404)]


async def test_authorization_header_is_never_logged(
    debug_http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    await debug_http.get("/api/v1/users/me", headers={"Authorization": "Bearer not.a.jwt"})
    captured = capfd.readouterr().out
    assert len(_access_lines(captured)) == 1
    assert "not.a.jwt" not in captured
