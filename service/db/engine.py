"""The async engines built from the settings: the serving one per worker, migrate's, purge's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from service.config import MigrationSettings, Settings
from service.db import dialect
from service.telemetry import database as db_telemetry


def create_migration_engine(settings: MigrationSettings) -> AsyncEngine:
    """An unpooled engine on the migrations' URL, without the API's timeouts.

    No statement_timeout and no client command timeout: an index build or a
    backfill may run for minutes, and the runner bounds its own waits (the
    advisory lock, DDL locks) with MIGRATION_* settings.
    """
    url = make_url(settings.migration_url.get_secret_value())
    connect_args = dialect.migration_connect_args(settings, url)
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    dialect.install_connection_hooks(engine.sync_engine, serving=False)
    return engine


def create_purge_engine(settings: MigrationSettings) -> AsyncEngine:
    """An unpooled engine on DATABASE_URL for `tasks-api purge`, which bounds each batch itself."""
    url = make_url(settings.database_url.get_secret_value())
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args=dialect.purge_connect_args(settings)
    )
    dialect.install_connection_hooks(engine.sync_engine, serving=False)
    return engine


@asynccontextmanager
async def command_connection(
    engine: AsyncEngine, settings: MigrationSettings, safe_url: str, error: type[Exception]
) -> AsyncIterator[AsyncConnection]:
    """The one connection of a command (migrate, purge); closed, and the engine disposed, after.

    A database that does not answer within DB_CONNECT_TIMEOUT_SECONDS (+ 1 s for the
    driver's own bound) raises `error` with one line naming the URL without its password.
    """
    try:
        try:
            async with asyncio.timeout(settings.db_connect_timeout_seconds + 1):
                connection = await engine.connect()
        except TimeoutError:
            raise error(
                f"could not connect to the database at {safe_url} within "
                f"{settings.db_connect_timeout_seconds:g} s (DB_CONNECT_TIMEOUT_SECONDS)"
            ) from None
        try:
            yield connection
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """Create the async engine; `pooled=False` for a one-off connection (tests, tools)."""
    url = make_url(settings.database_url.get_secret_value())
    options = dialect.engine_options(settings)
    if not pooled:
        options = {"connect_args": options["connect_args"], "poolclass": NullPool}
    elif (pool_class := db_telemetry.instrumented_pool_class(url)) is not None:
        # Metrics: a pool that reports its gauges and how long a checkout takes.
        options["poolclass"] = pool_class
    engine = create_async_engine(url, **options)
    dialect.install_connection_hooks(engine.sync_engine)
    if pooled:
        # Metrics: statement durations of the serving engine.
        db_telemetry.observe_engine(engine)
    return engine
