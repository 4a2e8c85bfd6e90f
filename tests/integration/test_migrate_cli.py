"""`tasks-api migrate`: from empty, again (no-op), concurrently, --check, unreachable."""

from __future__ import annotations

import subprocess
import time

import asyncpg
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.support.databases import url_string
from tests.support.server import run_command


def _migrate(url: URL | str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    database_url = url if isinstance(url, str) else url_string(url)
    env = {"DATABASE_URL": database_url, "DB_CONNECT_TIMEOUT_SECONDS": "2"}
    return run_command("migrate", *args, env=env, timeout=timeout)


async def _versions(url: URL) -> list[str]:
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()
    return [row["version_num"] for row in rows]


def test_migrate_from_empty_then_again_is_a_noop(fresh_database: URL) -> None:
    first = _migrate(fresh_database)
    second = _migrate(fresh_database)
    head = head_revision()
    assert first.returncode == 0, first.stderr
    assert f"migrated from empty to {head}" in first.stdout
    assert second.returncode == 0, second.stderr
    assert f"already at head {head}" in second.stdout


def test_check_reports_behind_then_at_head(fresh_database: URL) -> None:
    behind = _migrate(fresh_database, "--check")
    assert behind.returncode == 1
    assert "behind" in behind.stdout
    assert _migrate(fresh_database).returncode == 0
    at_head = _migrate(fresh_database, "--check")
    assert at_head.returncode == 0
    assert "at head" in at_head.stdout


def test_unreachable_database_fails_fast_with_one_line() -> None:
    started = time.monotonic()
    result = _migrate("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tasks-api migrate: cannot connect to the database")
    assert "Traceback" not in result.stderr


def test_password_never_printed_on_failure() -> None:
    result = _migrate("postgresql+asyncpg://app:hunter2@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout
