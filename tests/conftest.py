"""Shared fixtures: the test database, the app on it, and an HTTP client with rollback.

Database selection: TEST_DATABASE_URL, else PostgreSQL at 127.0.0.1:5432 when reachable,
else SQLite (tests marked `postgres` are then skipped with the reason). REQUIRE_POSTGRES=1
turns a missing PostgreSQL into an error instead of a skip.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from service.app import create_app
from service.config import Settings
from service.core.lifecycle import ShutdownState
from service.db.engine import create_engine, get_session
from service.db.migrate import migrate
from tests.support.databases import (
    Backend,
    create_postgres_database,
    drop_postgres_database,
    select_backend,
    sqlite_url,
    url_string,
)

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
BACKEND = select_backend()


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


async def new_database(tmp_dir: Path) -> URL:
    """An empty database on the selected backend."""
    if BACKEND.is_postgres:
        assert BACKEND.admin_url is not None
        return await create_postgres_database(BACKEND.admin_url)
    return sqlite_url(tmp_dir)


async def discard_database(url: URL) -> None:
    """Drop a database made by new_database (SQLite files go with their temp dir)."""
    if BACKEND.is_postgres:
        assert BACKEND.admin_url is not None
        await drop_postgres_database(BACKEND.admin_url, url)


def make_settings(url: URL | str, **overrides: object) -> Settings:
    """Settings for a test app on the given database."""
    values: dict[str, object] = {
        "database_url": url if isinstance(url, str) else url_string(url),
        "environment": "development",
        "jwt_secret": TEST_JWT_SECRET,
        "log_format": "json",
        "db_pool_timeout_seconds": 2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[URL]:
    """A database of this test session, built by the real Alembic migrations."""
    url = await new_database(tmp_path_factory.mktemp("db"))
    await migrate(make_settings(url))
    yield url
    await discard_database(url)


@pytest.fixture(scope="session")
def settings(database_url: URL) -> Settings:
    """Settings of the session's app."""
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application, lifespan started, shared by the session's tests."""
    application = create_app(settings, shutdown=ShutdownState())
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    """The engine the app created in its lifespan."""
    engine: AsyncEngine = app.state.engine
    return engine


@pytest.fixture
async def db_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def db_session(db_connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session inside the test's transaction (commits become savepoints)."""
    factory = async_sessionmaker(
        bind=db_connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    async with factory() as session:
        yield session


@pytest.fixture
async def client(app: FastAPI, db_connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client over ASGI whose requests share the test's rolled-back transaction.

    Requests must not run concurrently on it (one connection); use `live_client`
    for concurrency tests.
    """
    factory = async_sessionmaker(
        bind=db_connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )

    async def session_in_test_transaction(request: Request) -> AsyncIterator[AsyncSession]:
        async with factory() as session:
            try:
                yield session
                if session.in_transaction():
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    app.dependency_overrides[get_session] = session_in_test_transaction
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        app.dependency_overrides.pop(get_session, None)


@pytest.fixture
async def live_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client over ASGI with the app's real sessions: data is committed."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def fresh_database(tmp_path: Path) -> AsyncIterator[URL]:
    """An empty database (no migrations) for this test only."""
    url = await new_database(tmp_path)
    yield url
    await discard_database(url)


def engine_for(url: URL) -> AsyncEngine:
    """A small pooled engine on a test database."""
    return create_engine(make_settings(url))
