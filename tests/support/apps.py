"""Test apps: settings and a migrated test database, the app with its lifespan, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import URL

from service.app import create_app
from service.config import Settings
from service.core.lifecycle import ShutdownState
from service.db.migrate import migrate
from tests.support.databases import discard_database, new_database, url_string
from tests.support.server import TEST_REGISTRATIONS_PER_ADDRESS

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def make_settings(url: URL | str, **overrides: object) -> Settings:
    """Settings for a test app on the given database."""
    values: dict[str, object] = {
        "database_url": url if isinstance(url, str) else url_string(url),
        "environment": "development",
        "jwt_secret": TEST_JWT_SECRET,
        "log_format": "json",
        "db_pool_timeout_seconds": 2,
        "registration_max_per_address": TEST_REGISTRATIONS_PER_ADDRESS,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def migrated_database(directory: Path) -> AsyncIterator[URL]:
    """A new database built by the real Alembic migrations, dropped afterwards."""
    url = await new_database(directory)
    try:
        await migrate(make_settings(url))
        yield url
    finally:
        await discard_database(url)


def new_app(settings: Settings) -> FastAPI:
    """The app on these settings, with a shutdown state of its own (not the process's)."""
    return create_app(settings, shutdown=ShutdownState())


def asgi_client(app: FastAPI, **transport: Any) -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process; `transport` goes to ASGITransport."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport), base_url="http://test"
    )


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (engine, telemetry), shut down afterwards."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        yield app


@asynccontextmanager
async def serving(app: FastAPI, **transport: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app started, and a client of it."""
    async with started(app), asgi_client(app, **transport) as client:
        yield client
