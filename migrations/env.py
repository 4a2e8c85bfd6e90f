"""Alembic environment: async engine from the service settings, batch mode on SQLite."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url

from service.config import load_migration_settings
from service.db.base import Base
from service.db.dialect import needs_batch_migrations
from service.db.engine import create_migration_engine
from service.domains import load_models

load_models()
target_metadata = Base.metadata
config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=needs_batch_migrations(connection.dialect.name),
        compare_type=True,
        compare_server_default=True,
    )


def _run_with(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_migration_engine(load_migration_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_with)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    url = load_migration_settings().migration_url.get_secret_value()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=needs_batch_migrations(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    # `tasks-api migrate` passes its own connection, which holds the advisory lock.
    _run_with(connection)
else:
    asyncio.run(_run_online())
