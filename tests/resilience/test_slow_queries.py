"""A statement that outlives DB_STATEMENT_TIMEOUT_MS ends in a 503, never in a hung request.

The slowness is real: the test holds LOCK TABLE task IN ACCESS EXCLUSIVE MODE in
an open transaction on its own connection (straight to PostgreSQL, not through
the proxy), so the service's queries on `task` wait until the server cancels them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import URL

from tests.resilience.api import Owner, asyncpg_dsn
from tests.resilience.support import PROBLEM_JSON, STATEMENT_TIMEOUT_MS
from tests.support.server import ServiceProcess

pytestmark = pytest.mark.postgres

STATEMENT_TIMEOUT_SECONDS = STATEMENT_TIMEOUT_MS / 1000
# The server cancels at the statement timeout; the answer follows at once.
ANSWER_BOUND_SECONDS = STATEMENT_TIMEOUT_SECONDS + 1.0


@pytest.fixture
async def task_table_locked(migrated_database: URL) -> AsyncIterator[asyncpg.Connection]:
    """The task table under an ACCESS EXCLUSIVE lock until the test ends."""
    connection = await asyncpg.connect(asyncpg_dsn(migrated_database))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("LOCK TABLE task IN ACCESS EXCLUSIVE MODE")
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The response of a request and its seconds."""
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_statement_over_the_timeout_answers_503_problem(
    proxied_service: ServiceProcess, owner: Owner, task_table_locked: asyncpg.Connection
) -> None:
    task_path = f"/api/v1/tasks/{owner.task_id}"
    async with httpx.AsyncClient(base_url=proxied_service.base_url, timeout=30.0) as client:
        answers = await asyncio.gather(
            timed(client.get(task_path, headers=owner.auth)),
            timed(client.get("/api/v1/tasks", headers=owner.auth)),
            timed(client.post("/api/v1/tasks", json={"title": "slow"}, headers=owner.auth)),
        )
        # The instance stays in rotation: a slow table is not an unavailable database.
        assert (await client.get("/readyz")).status_code == 200

    for response, seconds in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["retry-after"].isdigit()
        assert response.json()["code"] == "database_unavailable"
        # It really waited for the statement timeout (the lock works), then gave up.
        assert STATEMENT_TIMEOUT_SECONDS * 0.9 <= seconds < ANSWER_BOUND_SECONDS, seconds

    waiting = await task_table_locked.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND application_name = 'tasks-api'"
    )
    assert waiting == 0, "a cancelled statement must not keep waiting on the server"


async def test_a_lock_released_in_time_lets_the_waiting_call_complete(
    proxied_service: ServiceProcess, owner: Owner, migrated_database: URL
) -> None:
    async with httpx.AsyncClient(base_url=proxied_service.base_url, timeout=30.0) as client:
        connection = await asyncpg.connect(asyncpg_dsn(migrated_database))
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute("LOCK TABLE task IN ACCESS EXCLUSIVE MODE")
            waiting = asyncio.ensure_future(
                client.get(f"/api/v1/tasks/{owner.task_id}", headers=owner.auth)
            )
            await asyncio.sleep(STATEMENT_TIMEOUT_SECONDS / 2)
            assert not waiting.done(), "the call did not wait for the lock"
        finally:
            await transaction.rollback()
            await connection.close()
        response = await waiting
    assert response.status_code == 200, response.text
    assert response.json()["id"] == owner.task_id
