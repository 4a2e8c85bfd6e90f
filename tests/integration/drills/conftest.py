"""An app with drills enabled, on the session's database, with a fresh drill state per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.engine import URL

from service.app import create_app
from service.core.lifecycle import ShutdownState
from tests.support.apps import make_settings

DRILLS_TOKEN = "operators-drill-token-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {DRILLS_TOKEN}"}


@pytest.fixture
async def drill_app(database_url: URL) -> AsyncIterator[FastAPI]:
    """The app with DRILLS_ENABLED; each test starts with no drill (its own state directory)."""
    settings = make_settings(
        database_url,
        drills_enabled=True,
        drills_token=DRILLS_TOKEN,
        drills_max_duration_seconds=600,
    )
    app = create_app(settings, shutdown=ShutdownState())
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        yield app


@pytest.fixture
async def http(drill_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client of that app."""
    transport = httpx.ASGITransport(app=drill_app, client=("10.9.8.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def start_drill(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    """POST /drills as the operator."""
    return await http.post("/drills", json=body, headers=OPERATOR)


def injected(kind: str) -> float:
    """tasks_api_drill_injected_total of a kind, in this process."""
    return REGISTRY.get_sample_value("tasks_api_drill_injected_total", {"kind": kind}) or 0.0


def requests_counted(handler: str, status: str, method: str = "GET") -> float:
    """http_requests_total of one route and status, in this process."""
    labels = {"method": method, "handler": handler, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0
