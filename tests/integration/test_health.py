"""/healthz and /readyz over HTTP, against the app on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import URL

from service.app import create_app
from service.core.lifecycle import ShutdownState
from service.db.migrate import head_revision
from service.version import VERSION
from tests.conftest import make_settings


async def test_healthz_reports_ok_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": VERSION}


async def test_readyz_is_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_readyz_503_names_schema_when_database_is_behind(fresh_database: URL) -> None:
    app = create_app(make_settings(fresh_database), shutdown=ShutdownState())
    async for http in _client_for(app):
        response = await http.get("/readyz")
        healthz = await http.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == f"behind: database at empty, code at {head_revision()}"
    assert healthz.status_code == 200, "liveness does not depend on the database"


async def test_readyz_503_when_database_unreachable() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    app = create_app(make_settings(url, db_connect_timeout_seconds=0.5), shutdown=ShutdownState())
    async for http in _client_for(app):
        response = await http.get("/readyz")
        healthz = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "schema": "unknown"}
    assert healthz.status_code == 200


async def test_readyz_503_from_the_moment_shutdown_begins(settings: object) -> None:
    shutdown = ShutdownState()
    app = create_app(settings, shutdown=shutdown)  # type: ignore[arg-type]
    async for http in _client_for(app):
        assert (await http.get("/readyz")).status_code == 200
        shutdown.begin()
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"shutdown": "draining"}
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probe_wrong_method_is_405(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
