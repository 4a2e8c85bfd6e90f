"""/readyz reads the schema revision in one statement once the version table is known.

Every statement of a probe waits for a busy worker's event loop, so the probe of a
ready pod sends one: it reads the version table, which also shows the database
answers. What the probe reports stays Alembic's answer, also when the table changes
under it (tests/integration/test_health.py has the states themselves).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL

from service.db.engine import create_engine
from service.db.migrate import head_revision, migrate
from service.state import app_state
from tests.integration.api.helpers import counted_statements
from tests.support.apps import make_settings, new_app, serving
from tests.support.problems import assert_problem


async def _run(url: URL, sql: str, **parameters: str) -> None:
    engine = create_engine(make_settings(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), parameters)
    finally:
        await engine.dispose()


@pytest.fixture
async def ready(fresh_database: URL) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    await migrate(make_settings(fresh_database))
    app = new_app(make_settings(fresh_database))
    async with serving(app) as http:
        yield app, http


async def test_a_ready_pods_probe_is_one_statement(
    ready: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = ready
    engine = app_state(app).database.engine
    with counted_statements(engine) as statements:
        response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "schema": "ok"}
    assert len(statements) == 1, statements
    assert "alembic_version" in statements[0]


async def test_a_revision_changed_between_probes_is_what_the_next_probe_reports(
    ready: tuple[FastAPI, httpx.AsyncClient], fresh_database: URL
) -> None:
    _, http = ready
    assert (await http.get("/readyz")).status_code == 200
    await _run(fresh_database, "UPDATE alembic_version SET version_num = '0002'")
    body = assert_problem(await http.get("/readyz"), 503, "not_ready")
    assert body["checks"]["schema"] == f"behind: database at 0002, code at {head_revision()}"


@pytest.mark.parametrize("change", ["DELETE FROM alembic_version", "DROP TABLE alembic_version"])
async def test_an_emptied_or_dropped_version_table_is_an_empty_schema_not_an_outage(
    ready: tuple[FastAPI, httpx.AsyncClient], fresh_database: URL, change: str
) -> None:
    app, http = ready
    assert (await http.get("/readyz")).status_code == 200
    await _run(fresh_database, change)
    for _ in range(2):  # the probe after the change, and the one after that
        body = assert_problem(await http.get("/readyz"), 503, "not_ready")
        assert body["checks"] == {
            "database": "ok",
            "schema": f"behind: database at empty, code at {head_revision()}",
        }
    # Back at head, as a stamp would leave it.
    await _run(
        fresh_database,
        "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
    )
    await _run(
        fresh_database, "INSERT INTO alembic_version VALUES (:head)", head=str(head_revision())
    )
    with counted_statements(app_state(app).database.engine) as statements:
        assert (await http.get("/readyz")).status_code == 200
    assert len(statements) > 1, "the table was not seen since: Alembic's answer first"
    with counted_statements(app_state(app).database.engine) as statements:
        assert (await http.get("/readyz")).status_code == 200
    assert len(statements) == 1, statements
