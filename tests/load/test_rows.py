"""The overload's row check: every 201 must be a row in the database (real PostgreSQL)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.load.conftest import BenchDatabase
from tests.load.seed import count_tagged, insert_tasks, missing_tasks

pytestmark = pytest.mark.postgres


async def test_every_stored_task_is_found(bench_database: BenchDatabase) -> None:
    ids = await insert_tasks(bench_database.url, bench_database.owner_id, 5)
    assert await missing_tasks(bench_database.dsn, ids) == []


async def test_an_answered_but_absent_task_is_reported(bench_database: BenchDatabase) -> None:
    stored = await insert_tasks(bench_database.url, bench_database.owner_id, 2)
    lost = [str(uuid.uuid4()), str(uuid.uuid4())]
    answered = [stored[0], lost[0], stored[1], lost[1]]
    assert await missing_tasks(bench_database.dsn, answered) == lost


async def test_no_ids_needs_no_query_and_malformed_ids_are_refused(
    bench_database: BenchDatabase,
) -> None:
    assert await missing_tasks("postgresql://nobody@127.0.0.1:1/none", []) == []
    with pytest.raises(ValueError, match="badly formed"):
        await missing_tasks(bench_database.dsn, ["not-a-uuid"])


async def test_the_rows_of_a_run_are_counted_by_its_tag(bench_database: BenchDatabase) -> None:
    connection = await asyncpg.connect(bench_database.dsn)
    try:
        for title in ("overload ab12 0", "overload ab12 1", "overload cd34 0", "overload ab123 0"):
            await connection.execute(
                "INSERT INTO task (id, owner_id, title, status, priority, created_at, updated_at,"
                " version) VALUES ($1, $2, $3, 'todo', 'normal', now(), now(), 1)",
                uuid.uuid4(),
                uuid.UUID(bench_database.owner_id),
                title,
            )
    finally:
        await connection.close()
    assert await count_tagged(bench_database.dsn, "ab12") == 2
    assert await count_tagged(bench_database.dsn, "ef56") == 0
    with pytest.raises(ValueError, match="letters and digits"):
        await count_tagged(bench_database.dsn, "%")
