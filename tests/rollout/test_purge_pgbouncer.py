"""`tasks-api purge` behind a real PgBouncer in transaction pooling mode (`DB_PGBOUNCER=true`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chart.tools import require_tool
from tests.support.pgbouncer import PgBouncer, running_pgbouncer
from tests.support.purge_rows import (
    add_user,
    missing,
    parse_summary,
    run_purge,
    seed_expired,
    seed_kept,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def bouncer(migrated_engine: tuple[URL, AsyncEngine]) -> Iterator[PgBouncer]:
    """PgBouncer in front of this test's database."""
    with running_pgbouncer(require_tool("pgbouncer"), migrated_engine[0]) as running:
        yield running


async def _statement_timeout_through(url: URL) -> str:
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        return str(await connection.fetchval("SHOW statement_timeout"))
    finally:
        await connection.close()


async def test_two_runs_through_pgbouncer_purge_each_row_once_and_leave_no_setting_behind(
    migrated_engine: tuple[URL, AsyncEngine], bouncer: PgBouncer
) -> None:
    url, engine = migrated_engine
    owner = await add_user(engine)
    seeded = await seed_expired(engine, owner, keys=4000, families=100, attempts=500)
    await seed_kept(engine, owner, seeded)
    through = bouncer.url_for(url)
    settings = {"DB_PGBOUNCER": "true", "PURGE_BATCH_SIZE": "100"}

    results = await asyncio.gather(
        *(asyncio.to_thread(run_purge, through, **settings) for _ in range(2))
    )

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    purged = [parse_summary(r.stdout) for r in results]
    assert sum(p.keys for p in purged) == seeded.expired_keys
    assert sum(p.tokens for p in purged) == seeded.expired_tokens
    assert sum(p.attempts for p in purged) == seeded.expired_attempts
    assert await missing(engine, seeded.kept) == []
    # Each batch's statement_timeout was SET LOCAL: the server connections PgBouncer hands
    # to the next client carry none of it.
    assert await _statement_timeout_through(through) == "0", bouncer.logs()
