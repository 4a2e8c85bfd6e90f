"""Schema migrations: Alembic to head under a PostgreSQL advisory lock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from service.config import Settings
from service.db.engine import create_engine
from service.db.errors import driver_cause

# One constant key: every tasks-api migrate run on a database serialises on it.
ADVISORY_LOCK_KEY = 0x7A5C_0A91
PACKAGED_HOME = Path(__file__).resolve().parents[1] / "_alembic"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_home() -> Path:
    """Where alembic.ini and migrations/ are: inside an installed wheel, else the checkout."""
    return PACKAGED_HOME if (PACKAGED_HOME / "alembic.ini").is_file() else PROJECT_ROOT


class MigrationError(RuntimeError):
    """A migration command could not complete; the message is safe to print."""


@dataclass(frozen=True)
class MigrationResult:
    """Where the schema was before and after a run."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """Whether the run applied any revision."""
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the project, optionally bound to a connection."""
    home = alembic_home()
    config = Config(str(home / "alembic.ini"))
    config.set_main_option("script_location", str(home / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str | None:
    """The single head revision of the code's migration scripts."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) > 1:
        raise MigrationError(f"migrations have several heads: {', '.join(sorted(heads))}")
    return heads[0] if heads else None


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return await connection.run_sync(_current)


def _upgrade(connection: Connection) -> MigrationResult:
    before = _current(connection)
    command.upgrade(alembic_config(connection), "head")
    return MigrationResult(before=before, after=_current(connection))


async def _locked_run(settings: Settings, check: bool) -> MigrationResult:
    engine = create_engine(settings, pooled=False)
    try:
        async with asyncio.timeout(settings.db_connect_timeout_seconds + 1):
            connection = await engine.connect()
        try:
            postgres = connection.dialect.name == "postgresql"
            if postgres and not check:
                # Session-level lock, held until this connection closes; concurrent runs
                # wait here and then find the schema at head (a no-op).
                await connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await connection.commit()
            if check:
                current = await current_revision(connection)
                return MigrationResult(before=current, after=current)
            result = await connection.run_sync(_upgrade)
            await connection.commit()
            return result
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def migrate(settings: Settings, *, check: bool = False) -> MigrationResult:
    """Upgrade to head (or, with `check`, only read the current revision)."""
    try:
        return await _locked_run(settings, check)
    except MigrationError:
        raise
    except Exception as error:
        cause = driver_cause(error)
        if isinstance(cause, TimeoutError):
            raise MigrationError(
                f"database at {settings.safe_database_url} did not answer within "
                f"{settings.db_connect_timeout_seconds:g} s"
            ) from None
        if isinstance(cause, OSError):
            raise MigrationError(
                f"cannot connect to the database at {settings.safe_database_url}: "
                f"{cause.strerror or type(cause).__name__}"
            ) from None
        raise MigrationError(
            f"migration failed on {settings.safe_database_url}: {type(cause).__name__}"
        ) from None
