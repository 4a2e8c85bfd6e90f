"""Errors the driver raises about a request are defects (500), never a database outage (503).

Real asyncpg against real PostgreSQL: the classification must hold for what the driver
really raises, not for exception classes built by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.errors import is_database_unavailable
from service.dependencies import ReadSessionDep
from service.state import app_state
from tests.support.apps import asgi_client, make_settings, new_app, started
from tests.support.problems import assert_problem

pytestmark = pytest.mark.postgres

TOO_MANY = 33_000  # asyncpg carries at most 32,767 bind parameters


def _many_parameters() -> tuple[str, dict[str, object]]:
    names = [f"p{index}" for index in range(TOO_MANY)]
    sql = "SELECT 1 WHERE 1 IN (" + ", ".join(f":{name}" for name in names) + ")"
    values: dict[str, object] = dict.fromkeys(names, 1)
    return sql, values


@pytest.fixture(scope="module")
async def driver_app(database_url: URL) -> AsyncIterator[FastAPI]:
    """The app with routes whose statements the driver or the server refuse."""
    app = new_app(make_settings(database_url))

    @app.get("/test/too-many-parameters")
    async def too_many(session: ReadSessionDep) -> None:
        sql, values = _many_parameters()
        await session.execute(text(sql), values)

    @app.get("/test/out-of-range")
    async def out_of_range(session: ReadSessionDep) -> None:
        statement = text("SELECT CAST(:n AS integer)").bindparams(bindparam("n", type_=None))
        await session.execute(statement, {"n": 2**40})

    @app.get("/test/terminated")
    async def terminated(session: ReadSessionDep) -> None:
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    async with started(app):
        yield app


@pytest.fixture
def engine(driver_app: FastAPI) -> AsyncEngine:
    """The serving engine of the app."""
    database = app_state(driver_app).database
    assert database is not None
    return database.engine


async def _failure(engine: AsyncEngine, sql: str, values: dict[str, object]) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised:
        async with engine.connect() as connection:
            await connection.execute(text(sql), values)
    return raised.value


async def test_too_many_bind_parameters_is_not_an_outage(engine: AsyncEngine) -> None:
    error = await _failure(engine, *_many_parameters())
    assert "32767" in str(error.orig)
    assert not is_database_unavailable(error)


async def test_a_value_the_driver_cannot_encode_is_not_an_outage(engine: AsyncEngine) -> None:
    error = await _failure(engine, "SELECT CAST(:n AS integer)", {"n": "not a number"})
    assert not is_database_unavailable(error)


async def test_invalid_text_for_a_type_is_not_an_outage(engine: AsyncEngine) -> None:
    error = await _failure(engine, "SELECT CAST(CAST(:t AS text) AS uuid)", {"t": "nope"})
    assert "22P02" in str(getattr(error.orig, "sqlstate", "")) or "invalid" in str(error.orig)
    assert not is_database_unavailable(error)


async def test_a_connection_killed_under_the_statement_is_an_outage(engine: AsyncEngine) -> None:
    error = await _failure(engine, "SELECT pg_terminate_backend(pg_backend_pid())", {})
    assert is_database_unavailable(error)


async def test_the_api_answers_500_for_too_many_parameters(driver_app: FastAPI) -> None:
    async with asgi_client(driver_app) as client:
        response = await client.get("/test/too-many-parameters")
    assert_problem(response, 500, "internal_error")
    assert "retry-after" not in response.headers
    assert "32767" not in response.text


async def test_the_api_answers_500_for_an_unencodable_value(driver_app: FastAPI) -> None:
    async with asgi_client(driver_app) as client:
        response = await client.get("/test/out-of-range")
    assert_problem(response, 500, "internal_error")


async def test_the_api_still_answers_503_when_the_connection_dies(driver_app: FastAPI) -> None:
    async with asgi_client(driver_app) as client:
        response: httpx.Response = await client.get("/test/terminated")
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"]
