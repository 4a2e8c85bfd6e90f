"""A migrated benchmark database with one user, for the harness tests that need PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy.engine import URL

from tests.load.seed import asyncpg_dsn, create_bench_database
from tests.support.databases import BACKEND, drop_postgres_database

INSERT_USER = """
INSERT INTO app_user (id, email, email_normalized, password_hash, created_at, updated_at)
VALUES ($1, $2, $2, 'not-a-hash: this user never logs in', now(), now())
"""


@dataclass(frozen=True)
class BenchDatabase:
    """The database, its asyncpg DSN, and the user that owns the tasks."""

    url: URL
    dsn: str
    owner_id: str


@pytest.fixture(scope="module")
async def bench_database() -> AsyncIterator[BenchDatabase]:
    """A fresh database migrated by the real migrations, with one user row."""
    if not BACKEND.is_postgres or BACKEND.admin_url is None:
        pytest.skip(f"needs PostgreSQL; {BACKEND.reason}")
    url = await create_bench_database(BACKEND.admin_url)
    dsn = asyncpg_dsn(url)
    owner = uuid.uuid4()
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(INSERT_USER, owner, f"owner-{owner.hex[:8]}@example.com")
    finally:
        await connection.close()
    try:
        yield BenchDatabase(url=url, dsn=dsn, owner_id=str(owner))
    finally:
        await drop_postgres_database(BACKEND.admin_url, url)
