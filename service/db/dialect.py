"""Everything that differs between PostgreSQL and the embedded SQLite, in one place.

PostgreSQL (asyncpg) serves every deployment; SQLite (aiosqlite) is the embedded
default, so that `tasks-api serve` runs with no setup. Code outside service/db/ does
not compare dialect names; it calls what is here. Two questions stay outside on
purpose: `serve` asks `is_embedded` (only then does it migrate by itself), and
migrations/env.py asks `needs_batch_migrations`. What the URLs may look like is in
url.py, what each driver raises and which of it is an outage in errors.py, and the
migration runner's PostgreSQL locking in migrate.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert

from service.config import MigrationSettings, Settings
from service.db.errors import translate_driver_errors
from service.db.pool import PoolGuard

POSTGRESQL = "postgresql"
SQLITE = "sqlite"


def is_embedded(settings: MigrationSettings) -> bool:
    """Whether the database is the embedded SQLite file, which no one else migrates or shares."""
    return make_url(settings.database_url.get_secret_value()).get_backend_name() == SQLITE


def needs_batch_migrations(backend: str) -> bool:
    """Whether Alembic must rebuild tables to alter them (SQLite's ALTER TABLE is minimal)."""
    return backend == SQLITE


def keeps_time_zones(dialect: Dialect) -> bool:
    """Whether timestamps keep their offset in storage (SQLite stores naive text)."""
    return dialect.name != SQLITE


def _pgbouncer_statement_name() -> str:
    # Transaction-pooling PgBouncer may hand each statement to another server
    # connection, so prepared statement names must never repeat.
    return f"__asyncpg_{uuid.uuid4().hex}__"


# Transaction-pooling PgBouncer: no statement caches, never-repeating statement names.
PGBOUNCER_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _pgbouncer_statement_name,
}


def engine_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for create_async_engine derived from the settings."""
    if is_embedded(settings):
        return {"connect_args": {"timeout": settings.db_connect_timeout_seconds}}
    server_settings = {"application_name": "tasks-api"}
    if not settings.db_pgbouncer:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": server_settings,
    }
    if settings.db_statement_timeout_ms:
        # The client-side bound catches a server that stopped answering entirely (and
        # is the only bound behind PgBouncer when the role sets no statement_timeout).
        connect_args["command_timeout"] = settings.db_statement_timeout_ms / 1000 + 1
    if settings.db_pgbouncer:
        # PgBouncer refuses a statement_timeout startup parameter (unless it is told to
        # ignore it, and then it is lost): behind it, set it on the role instead
        # (README, "Behind PgBouncer").
        connect_args |= PGBOUNCER_CONNECT_ARGS
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        # Not pool_pre_ping (three round trips on every checkout): PoolGuard finds
        # closed, idle-and-dead and silent connections (see service/db/pool.py).
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        "connect_args": connect_args,
    }


def migration_connect_args(settings: MigrationSettings, url: URL) -> dict[str, Any]:
    """connect_args of migrate's engine on `url`: its connect timeout, no statement timeouts."""
    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout_seconds}
    if url.get_backend_name() != SQLITE:
        connect_args["server_settings"] = {"application_name": "tasks-api-migrate"}
        if settings.db_pgbouncer and settings.migration_database_url is None:
            connect_args |= PGBOUNCER_CONNECT_ARGS
    return connect_args


def purge_connect_args(settings: MigrationSettings) -> dict[str, Any]:
    """connect_args of purge's engine on DATABASE_URL: its connect timeout, its own name."""
    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout_seconds}
    if not is_embedded(settings):
        connect_args["server_settings"] = {"application_name": "tasks-api-purge"}
        if settings.db_pgbouncer:
            connect_args |= PGBOUNCER_CONNECT_ARGS
    return connect_args


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def install_connection_hooks(engine: Engine, *, serving: bool = True) -> None:
    """SQLite: enforce foreign keys. PostgreSQL, serving: find dead connections, translate errors.

    migrate's one-shot engine (`serving=False`) needs neither on PostgreSQL.
    """
    if engine.dialect.name == SQLITE:
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return
    if not serving:
        return
    # Dead and silent pooled connections are found without a ping per checkout.
    PoolGuard().install(engine)
    # After PoolGuard, which marks command timeouts as disconnects first.
    translate_driver_errors(engine)


def insert_on_conflict(
    session: AsyncSession,
    model: type[Any],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[InstrumentedAttribute[Any]],
    update: Sequence[str] = (),
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """INSERT the values; on a conflict of the `conflict` columns do nothing, or take the row over.

    With `update`, those columns of the existing row get the proposed values (only
    where `where` holds, when given); without, the existing row stays as it is.
    """
    dialect_insert = postgresql.insert if _backend(session) == POSTGRESQL else sqlite.insert
    statement = dialect_insert(model).values(**values)
    if not update:
        return statement.on_conflict_do_nothing(index_elements=conflict)
    return statement.on_conflict_do_update(
        index_elements=conflict,
        set_={name: statement.excluded[name] for name in update},
        where=where,
    )


async def lock_until_commit(session: AsyncSession, namespace: int, key: str) -> None:
    """Serialise transactions on (namespace, key) until this one ends.

    PostgreSQL: a transaction-level advisory lock. SQLite has no finer lock than the
    database's write lock: the transaction takes it at once (BEGIN IMMEDIATE), so that
    what it reads before writing cannot change under it, whatever the key. (The driver
    would open the transaction only at the first write, after the reads.)
    """
    if _backend(session) != POSTGRESQL:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"),
        {"namespace": namespace, "key": key},
    )


def _backend(session: AsyncSession) -> str:
    bind: Engine | Connection = session.get_bind()
    return bind.dialect.name
