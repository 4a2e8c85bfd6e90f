"""Engine and session factory built from the settings, one per worker process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from service.config import MigrationSettings, Settings
from service.db.errors import translate_driver_errors
from service.db.pool import PoolGuard
from service.telemetry import database as db_telemetry

# Methods that only read: their session runs without BEGIN/COMMIT (autocommit).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


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
    if settings.is_sqlite:
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


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_migration_engine(settings: MigrationSettings) -> AsyncEngine:
    """An unpooled engine on the migrations' URL, without the API's timeouts.

    No statement_timeout and no client command timeout: an index build or a
    backfill may run for minutes, and the runner bounds its own waits (the
    advisory lock, DDL locks) with MIGRATION_* settings.
    """
    url = make_url(settings.migration_url.get_secret_value())
    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout_seconds}
    if url.get_backend_name() != "sqlite":
        connect_args["server_settings"] = {"application_name": "tasks-api-migrate"}
        if settings.db_pgbouncer and settings.migration_database_url is None:
            connect_args |= PGBOUNCER_CONNECT_ARGS
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """Create the async engine; `pooled=False` for one-shot commands such as migrate."""
    url = make_url(settings.database_url.get_secret_value())
    options = engine_options(settings)
    if not pooled:
        options = {"connect_args": options["connect_args"], "poolclass": NullPool}
    elif (pool_class := db_telemetry.instrumented_pool_class(url)) is not None:
        # Metrics: a pool that reports its gauges and how long a checkout takes.
        options["poolclass"] = pool_class
    engine = create_async_engine(url, **options)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    else:
        # Dead and silent pooled connections are found without a ping per checkout.
        PoolGuard().install(engine.sync_engine)
        # After PoolGuard, which marks command timeouts as disconnects first.
        translate_driver_errors(engine.sync_engine)
    if pooled:
        # Metrics: statement durations of the serving engine.
        db_telemetry.observe_engine(engine)
    return engine


def create_session_factory(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (responses are built after it).

    `read_only`: sessions in autocommit mode, for requests that only read. Each
    statement sees committed data without a BEGIN/COMMIT pair around it, which
    saves two round trips per request.
    """
    bind = engine.execution_options(isolation_level="AUTOCOMMIT") if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed before the response is sent, rolled back on error."""
    state = request.app.state
    factory: async_sessionmaker[AsyncSession] = (
        state.read_session_factory if request.method in READ_ONLY_METHODS else state.session_factory
    )
    async with factory() as session:
        try:
            yield session
            # Commit before the response exists, so a failed commit changes the status.
            if session.in_transaction():
                await session.commit()
        except BaseException:
            await session.rollback()
            raise


# `scope="function"` runs the commit when the endpoint returns, before the response
# is sent; the default request scope would commit after the client already got a 2xx.
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
