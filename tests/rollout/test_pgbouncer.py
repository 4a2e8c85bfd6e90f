"""tasks-api behind a real PgBouncer in transaction pooling mode (`DB_PGBOUNCER=true`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from service.db.migrate import ADVISORY_LOCK_KEY, head_revision
from tests.chart.tools import require_tool
from tests.resilience.api import rows
from tests.rollout.scenario import run_api_scenario
from tests.rollout.test_migration_runner import migrate, revision_of
from tests.support.apps import TEST_JWT_SECRET
from tests.support.databases import url_string
from tests.support.pgbouncer import PgBouncer, running_pgbouncer
from tests.support.server import running_service

pytestmark = pytest.mark.postgres


@pytest.fixture
def bouncer(fresh_database: URL) -> Iterator[PgBouncer]:
    """PgBouncer in front of this test's database."""
    with running_pgbouncer(require_tool("pgbouncer"), fresh_database) as running:
        yield running


async def held_advisory_locks(url: URL) -> int:
    """Sessions holding the migration lock on the server right now."""
    found = await rows(
        url,
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted",
        ADVISORY_LOCK_KEY,
    )
    return int(found[0]["n"])


async def test_concurrent_runs_through_pgbouncer_leave_no_lock_behind(
    bouncer: PgBouncer, fresh_database: URL
) -> None:
    env = {"DATABASE_URL": url_string(bouncer.url_for(fresh_database)), "DB_PGBOUNCER": "true"}
    results = await asyncio.gather(*(asyncio.to_thread(migrate, env) for _ in range(3)))
    assert [result.returncode for result in results] == [0, 0, 0], [r.stderr for r in results]
    outputs = [result.stdout.strip().splitlines()[-1] for result in results]
    assert sum(output.startswith("migrated from empty") for output in outputs) == 1, outputs
    # PgBouncer keeps its server connections open: a session-level lock taken through
    # it would still be held here, and the next run would wait for it forever.
    assert await held_advisory_locks(fresh_database) == 0, bouncer.logs()
    again = await asyncio.to_thread(migrate, {**env, "MIGRATION_LOCK_TIMEOUT_SECONDS": "5"})
    assert again.returncode == 0, again.stderr
    assert await revision_of(fresh_database) == head_revision()


def test_serves_through_pgbouncer(bouncer: PgBouncer, fresh_database: URL) -> None:
    """PgBouncer refuses a statement_timeout startup parameter: the engine must not send it."""
    through = url_string(bouncer.url_for(fresh_database))
    assert migrate({"DATABASE_URL": through, "DB_PGBOUNCER": "true"}).returncode == 0
    env = {
        "DATABASE_URL": through,
        "DB_PGBOUNCER": "true",
        "ENVIRONMENT": "production",
        "JWT_SECRET": TEST_JWT_SECRET,
        "WEB_CONCURRENCY": "2",
        "OTEL_SDK_DISABLED": "true",
    }
    with running_service(env) as server:
        run_api_scenario(server.base_url)
        assert "unsupported startup parameter" not in bouncer.logs()


def test_without_pgbouncer_mode_a_transaction_pooler_is_refused_at_startup(
    bouncer: PgBouncer, fresh_database: URL
) -> None:
    """Without DB_PGBOUNCER the startup parameter goes out and PgBouncer says why it refuses."""
    through = url_string(bouncer.url_for(fresh_database))
    result = migrate({"DATABASE_URL": url_string(fresh_database)})
    assert result.returncode == 0
    env = {"DATABASE_URL": through, "OTEL_SDK_DISABLED": "true"}
    with running_service(env, wait=False) as server, pytest.raises(TimeoutError):
        server.wait_ready(timeout=5)
    assert "unsupported startup parameter: statement_timeout" in bouncer.logs()
