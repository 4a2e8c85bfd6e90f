"""Test databases: PostgreSQL or SQLite (BACKEND, chosen once), fresh databases, dropped after."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Backend:
    """Where test databases are created."""

    kind: str  # "postgresql" or "sqlite"
    admin_url: URL | None  # an existing PostgreSQL database to create others from
    reason: str  # why this backend was chosen

    @property
    def is_postgres(self) -> bool:
        """Whether tests run on PostgreSQL."""
        return self.kind == "postgresql"


def _reachable(url: URL, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout):
            return True
    except OSError:
        return False


def select_backend() -> Backend:
    """TEST_DATABASE_URL, else PostgreSQL on 127.0.0.1:5432 if reachable, else SQLite."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        url = make_url(configured)
        if url.get_backend_name() == "sqlite":
            return Backend("sqlite", None, "TEST_DATABASE_URL is SQLite")
        return Backend("postgresql", url, "TEST_DATABASE_URL")
    url = make_url(DEFAULT_POSTGRES)
    if _reachable(url):
        return Backend("postgresql", url, "PostgreSQL reachable at 127.0.0.1:5432")
    return Backend("sqlite", None, "no PostgreSQL at 127.0.0.1:5432 and no TEST_DATABASE_URL")


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres_database(admin_url: URL, prefix: str = "tasks_api_test") -> URL:
    """Create an empty database with a unique name and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin_url.set(database=name)


async def drop_postgres_database(admin_url: URL, url: URL) -> None:
    """Drop a test database, closing whatever still connects to it."""
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await connection.close()


def sqlite_url(directory: Path) -> URL:
    """A SQLite database file in a test's temporary directory."""
    return make_url(f"sqlite+aiosqlite:///{directory / f'tasks-{uuid.uuid4().hex[:8]}.db'}")


def url_string(url: URL) -> str:
    """The URL with its password, as the service reads it from DATABASE_URL."""
    return url.render_as_string(hide_password=False)


BACKEND = select_backend()


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
