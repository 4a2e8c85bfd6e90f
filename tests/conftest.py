"""Shared fixtures: the test database, the app on it, and an HTTP client of the app.

Database selection: TEST_DATABASE_URL, else PostgreSQL at 127.0.0.1:5432 when reachable,
else SQLite (tests marked `postgres` are then skipped with the reason). REQUIRE_POSTGRES=1
turns a missing PostgreSQL into an error instead of a skip. Helpers live in tests/support/.

The API tests run the app as it serves: reads in autocommit, writes in a transaction
committed for real. Each of them starts from empty tables (`clean_database`), which
works whatever sessions and connections the app used, and costs one short transaction.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.config import Settings
from service.db.base import Base
from service.db.session import WriteSession
from service.domains import load_models
from service.state import app_state
from tests.support.apps import asgi_client, make_settings, migrated_database, new_app, started
from tests.support.databases import BACKEND, Backend, discard_database, new_database, url_string


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1" and not BACKEND.is_postgres:
        raise pytest.UsageError(
            f"REQUIRE_POSTGRES=1 but tests would run on SQLite ({BACKEND.reason})"
        )


def pytest_report_header() -> str:
    return f"tasks-api test database: {BACKEND.kind} ({BACKEND.reason})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if BACKEND.is_postgres:
        return
    skip = pytest.mark.skip(reason=f"needs PostgreSQL; {BACKEND.reason}")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def backend() -> Backend:
    """The database backend the tests run on."""
    return BACKEND


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[URL]:
    """A database of this test session, built by the real Alembic migrations."""
    async with migrated_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: URL) -> Settings:
    """Settings of the session's app."""
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application, lifespan started, shared by the session's tests."""
    async with started(new_app(settings)) as application:
        yield application


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    """The engine the app created in its lifespan."""
    return app_state(app).database.engine


@pytest.fixture
async def clean_database(engine: AsyncEngine) -> None:
    """Every table of the session's database empty when the test starts."""
    load_models()
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())


@pytest.fixture
async def client(app: FastAPI, clean_database: None) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client over ASGI on the app with its own sessions: what it writes is committed."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def db_session(app: FastAPI, clean_database: None) -> AsyncIterator[WriteSession]:
    """A write session on the app's database; what the app must see is committed first."""
    async with app_state(app).database.write_sessions() as session:
        yield session


@pytest.fixture
async def fresh_database(tmp_path: Path) -> AsyncIterator[URL]:
    """An empty database (no migrations) for this test only."""
    url = await new_database(tmp_path)
    yield url
    await discard_database(url)


@pytest.fixture
async def migrated_engine(tmp_path: Path) -> AsyncIterator[tuple[URL, AsyncEngine]]:
    """A migrated database of this test only (on the tests' backend), and an engine on it."""
    load_models()
    async with migrated_database(tmp_path) as url:
        engine = create_async_engine(url_string(url))
        try:
            yield url, engine
        finally:
            await engine.dispose()
