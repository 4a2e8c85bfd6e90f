"""Database metrics: statement operations, pool gauges and the time to obtain a connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.db.engine import create_engine
from service.telemetry.database import (
    InstrumentedAsyncQueuePool,
    instrumented_pool_class,
    statement_operation,
)
from tests.support.apps import make_settings


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("SELECT 1", "SELECT"),
        ("  select id from task", "SELECT"),
        ("INSERT INTO task VALUES ($1)", "INSERT"),
        ("update task set title = $1", "UPDATE"),
        ("DELETE FROM task", "DELETE"),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("WITH gone AS (DELETE FROM task RETURNING id) SELECT count(*) FROM gone", "DELETE"),
        ("WITH recent AS (SELECT 1) SELECT * FROM recent", "SELECT"),
        ("WITH t AS (SELECT last_update FROM task) SELECT * FROM t", "SELECT"),
    ],
)
def test_statement_operation_from_the_first_keyword(statement: str, operation: str) -> None:
    assert statement_operation(statement) == operation


@pytest.mark.parametrize("statement", ["BEGIN", "PRAGMA foreign_keys=ON", "", "   ", "SELECTED"])
def test_other_statements_are_other(statement: str) -> None:
    assert statement_operation(statement) == "OTHER"


def test_pool_class_only_where_the_dialect_pools_with_the_queue_pool() -> None:
    assert (
        instrumented_pool_class(make_url("postgresql+asyncpg://u@h/d"))
        is InstrumentedAsyncQueuePool
    )
    assert (
        instrumented_pool_class(make_url("sqlite+aiosqlite:///file.db"))
        is InstrumentedAsyncQueuePool
    )
    assert instrumented_pool_class(make_url("sqlite+aiosqlite:///:memory:")) is None


async def test_pool_gauges_wait_time_and_query_durations(tmp_path: Path) -> None:
    engine = create_engine(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}"))
    waits = sample("tasks_api_db_pool_wait_seconds_count")
    selects = sample("tasks_api_db_query_duration_seconds_count", operation="SELECT")
    try:
        assert isinstance(engine.sync_engine.pool, InstrumentedAsyncQueuePool)
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("select 2"))
            assert sample("tasks_api_db_pool_checked_out") == 2
            assert sample("tasks_api_db_pool_size") == engine.sync_engine.pool.size()
        assert sample("tasks_api_db_pool_checked_out") == 0
        assert sample("tasks_api_db_pool_overflow") == 0
        assert sample("tasks_api_db_pool_wait_seconds_count") == waits + 2
        assert (
            sample("tasks_api_db_query_duration_seconds_count", operation="SELECT") == selects + 2
        )
    finally:
        await engine.dispose()


async def test_failed_statements_are_timed_too(tmp_path: Path) -> None:
    engine = create_engine(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'failing.db'}"))
    selects = sample("tasks_api_db_query_duration_seconds_count", operation="SELECT")
    try:
        async with engine.connect() as connection:
            with pytest.raises(Exception, match="no_such_table"):
                await connection.execute(text("SELECT * FROM no_such_table"))
        assert (
            sample("tasks_api_db_query_duration_seconds_count", operation="SELECT") == selects + 1
        )
        assert sample("tasks_api_db_pool_checked_out") == 0
    finally:
        await engine.dispose()


async def test_one_shot_engines_are_not_measured(tmp_path: Path) -> None:
    engine = create_engine(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'once.db'}"), pooled=False
    )
    waits = sample("tasks_api_db_pool_wait_seconds_count")
    selects = sample("tasks_api_db_query_duration_seconds_count", operation="SELECT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        assert sample("tasks_api_db_pool_wait_seconds_count") == waits
        assert sample("tasks_api_db_query_duration_seconds_count", operation="SELECT") == selects
    finally:
        await engine.dispose()
