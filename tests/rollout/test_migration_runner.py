"""`tasks-api migrate` as the migration Job runs it: its own settings, timeouts and lock.

Each test starts the real command against the real PostgreSQL, with another
session (or a real PgBouncer) playing the part that breaks migrations in a cluster.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from service.db.migrate import ADVISORY_LOCK_KEY, head_revision
from tests.resilience.api import asyncpg_dsn, rows
from tests.rollout.expand_migration import DRILL_COLUMN
from tests.rollout.releases import next_release
from tests.support.databases import url_string
from tests.support.server import PROJECT_ROOT, run_command

pytestmark = pytest.mark.postgres

UNREACHABLE = "postgresql+asyncpg://tasks:s3cret-pass@127.0.0.1:1/tasks"


def migrate(env: Mapping[str, str], cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m service migrate` with exactly these settings (production, no JWT)."""
    return run_command("migrate", env={"ENVIRONMENT": "production", **env}, cwd=cwd)


async def revision_of(url: URL) -> str | None:
    """The database's Alembic revision, None when it has none."""
    tables = await rows(url, "SELECT 1 FROM pg_tables WHERE tablename = 'alembic_version'")
    if not tables:
        return None
    found = await rows(url, "SELECT version_num FROM alembic_version")
    return str(found[0]["version_num"]) if found else None


def test_production_migrate_needs_no_jwt_secret(fresh_database: URL) -> None:
    result = migrate({"DATABASE_URL": url_string(fresh_database)})
    assert result.returncode == 0, result.stderr
    assert f"migrated from empty to {head_revision()}" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIGRATION_LOCK_TIMEOUT_SECONDS", "0"),
        ("MIGRATION_DDL_LOCK_TIMEOUT_MS", "soon"),
        ("MIGRATION_DATABASE_URL", "mysql://tasks@db/tasks"),
    ],
)
def test_invalid_migration_setting_exits_2_naming_it(
    fresh_database: URL, variable: str, value: str
) -> None:
    result = migrate({"DATABASE_URL": url_string(fresh_database), variable: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"tasks-api: invalid setting {variable}: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_waits_out_a_lock_held_longer_than_the_api_timeouts(fresh_database: URL) -> None:
    holder = await asyncpg.connect(asyncpg_dsn(fresh_database))
    await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    env = {
        "DATABASE_URL": url_string(fresh_database),
        # The API's bounds, as the chart renders them into the Job: migrate ignores them.
        "DB_STATEMENT_TIMEOUT_MS": "300",
        "MIGRATION_LOCK_TIMEOUT_SECONDS": "60",
    }
    started = time.monotonic()
    running = asyncio.create_task(asyncio.to_thread(migrate, env))
    await asyncio.sleep(3)
    assert not running.done(), (await running).stderr
    await holder.close()  # the other migration finishes
    result = await running
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 3
    assert await revision_of(fresh_database) == head_revision()


async def test_lock_wait_is_bounded_and_says_who_holds_it(fresh_database: URL) -> None:
    holder = await asyncpg.connect(asyncpg_dsn(fresh_database))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        env = {"DATABASE_URL": url_string(fresh_database), "MIGRATION_LOCK_TIMEOUT_SECONDS": "1"}
        result = await asyncio.to_thread(migrate, env)
    finally:
        await holder.close()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tasks-api migrate: another migration holds the migration lock on "
        f"{fresh_database.render_as_string(hide_password=True)}; gave up after 1 s "
        "(MIGRATION_LOCK_TIMEOUT_SECONDS)"
    ]
    assert await revision_of(fresh_database) is None


async def test_ddl_waits_no_longer_than_its_lock_timeout(
    fresh_database: URL, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": url_string(fresh_database), "MIGRATION_DDL_LOCK_TIMEOUT_MS": "500"}
    assert migrate(env).returncode == 0
    head = head_revision()
    assert head is not None
    upgraded = next_release(tmp_path / "next", head)
    reader = await asyncpg.connect(asyncpg_dsn(fresh_database))
    try:
        # A long transaction that has read the table (ACCESS SHARE) blocks ALTER TABLE.
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetch("SELECT * FROM task LIMIT 1")
        started = time.monotonic()
        result = await asyncio.to_thread(migrate, env, upgraded)
        waited = time.monotonic() - started
        await transaction.rollback()
    finally:
        await reader.close()
    assert result.returncode == 1, result.stdout
    line = result.stderr.strip()
    assert "waited more than 500 ms for a table lock (MIGRATION_DDL_LOCK_TIMEOUT_MS)" in line
    assert "nothing was changed" in line
    assert waited < 30
    assert await revision_of(fresh_database) == head, "a failed migration changed the schema"
    columns = await rows(
        fresh_database,
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'task' AND column_name = $1",
        DRILL_COLUMN,
    )
    assert columns == []


def test_migration_database_url_is_the_one_used(fresh_database: URL) -> None:
    result = migrate(
        {"DATABASE_URL": UNREACHABLE, "MIGRATION_DATABASE_URL": url_string(fresh_database)}
    )
    assert result.returncode == 0, result.stderr
    assert "migrated from empty to" in result.stdout


def test_unreachable_migration_database_is_named_without_its_password() -> None:
    result = migrate(
        {
            "DATABASE_URL": url_string(URL.create("postgresql+asyncpg", host="db.invalid")),
            "MIGRATION_DATABASE_URL": UNREACHABLE,
            "DB_CONNECT_TIMEOUT_SECONDS": "2",
        }
    )
    assert result.returncode == 1
    assert "cannot connect to the database at postgresql+asyncpg://tasks:***@127.0.0.1:1/tasks" in (
        result.stderr
    )
    assert "s3cret-pass" not in result.stderr + result.stdout
