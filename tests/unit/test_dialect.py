"""What differs between PostgreSQL and the embedded SQLite, asked in one place."""

from __future__ import annotations

from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from service.config import MigrationSettings
from service.db import dialect
from tests.support.apps import make_settings

POSTGRES_URL = "postgresql+asyncpg://app@db:5432/app"


def test_serving_connections_carry_both_statement_timeouts() -> None:
    options = dialect.engine_options(make_settings(POSTGRES_URL, db_statement_timeout_ms=2500))
    connect = options["connect_args"]
    assert connect["server_settings"]["statement_timeout"] == "2500"
    assert connect["command_timeout"] == 3.5
    assert options["pool_pre_ping"] is False


def test_behind_pgbouncer_only_the_client_bound_is_set() -> None:
    settings = make_settings(POSTGRES_URL, db_statement_timeout_ms=2500, db_pgbouncer=True)
    connect = dialect.engine_options(settings)["connect_args"]
    assert "statement_timeout" not in connect["server_settings"]
    assert connect["command_timeout"] == 3.5
    assert connect["statement_cache_size"] == 0


def test_migrate_connections_have_no_statement_timeouts() -> None:
    settings = MigrationSettings(database_url=POSTGRES_URL, db_connect_timeout_seconds=2)
    connect = dialect.migration_connect_args(settings, make_url(POSTGRES_URL))
    assert connect == {"timeout": 2, "server_settings": {"application_name": "tasks-api-migrate"}}


def test_the_embedded_database_gets_only_its_connect_timeout() -> None:
    settings = make_settings("sqlite+aiosqlite:///./x.db", db_connect_timeout_seconds=4)
    assert dialect.is_embedded(settings)
    assert dialect.engine_options(settings) == {"connect_args": {"timeout": 4}}
    assert not dialect.is_embedded(make_settings(POSTGRES_URL))


def test_only_sqlite_needs_batch_migrations_and_drops_time_zones() -> None:
    assert dialect.needs_batch_migrations("sqlite")
    assert not dialect.needs_batch_migrations("postgresql")
    assert not dialect.keeps_time_zones(sqlite.dialect())
    assert dialect.keeps_time_zones(create_async_engine(POSTGRES_URL).dialect)
