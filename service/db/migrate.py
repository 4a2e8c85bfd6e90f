"""Schema migrations: Alembic to head under a PostgreSQL advisory lock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from service.config import MigrationSettings
from service.db.engine import command_connection, create_migration_engine
from service.db.errors import driver_cause

log = structlog.get_logger("service.migrate")

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


@cache
def known_revisions() -> frozenset[str]:
    """Every revision of the code's migration scripts."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


class SchemaState(StrEnum):
    """Where the database schema stands relative to this code's migration scripts."""

    AT_HEAD = "at_head"
    # At a revision these scripts do not contain: a newer release migrated it. Under
    # expand/contract migrations this code keeps working on it.
    AHEAD = "ahead"
    # Empty, or at an older revision of these scripts: `migrate` has not run yet.
    BEHIND = "behind"
    # The database could not be asked.
    UNKNOWN = "unknown"


def schema_state(current: str | None) -> SchemaState:
    """Classify the database's revision against the code's scripts."""
    if current is not None and current == head_revision():
        return SchemaState.AT_HEAD
    if current is None or current in known_revisions():
        return SchemaState.BEHIND
    return SchemaState.AHEAD


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return await connection.run_sync(_current)


def _upgrade(connection: Connection) -> MigrationResult:
    before = _current(connection)
    command.upgrade(alembic_config(connection), "head")
    return MigrationResult(before=before, after=_current(connection))


# How often a waiting run asks for the advisory lock again.
LOCK_POLL_SECONDS = 0.5
_LOCK_NOT_AVAILABLE = "55P03"


async def _wait_for_lock(
    connection: AsyncConnection, settings: MigrationSettings, function: str
) -> None:
    # Polling with pg_try_advisory_*lock rather than waiting in pg_advisory_lock: the wait
    # is bounded by our own setting, not by lock_timeout or statement_timeout of the role.
    deadline = time.monotonic() + settings.migration_lock_timeout_seconds
    statement = text(f"SELECT {function}(:key)")
    announced = False
    while not (await connection.execute(statement, {"key": ADVISORY_LOCK_KEY})).scalar_one():
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migration holds the migration lock on {settings.safe_migration_url}; "
                f"gave up after {settings.migration_lock_timeout_seconds:g} s "
                "(MIGRATION_LOCK_TIMEOUT_SECONDS)"
            )
        if not announced:
            log.info("migration_lock_busy", waiting_seconds=settings.migration_lock_timeout_seconds)
            announced = True
        await asyncio.sleep(LOCK_POLL_SECONDS)


def _transaction_level_lock(settings: MigrationSettings) -> bool:
    # Through a transaction-pooling PgBouncer a session-level lock would stay on a server
    # connection that other clients get next: lock for the migration transaction only.
    return settings.db_pgbouncer and settings.migration_database_url is None


async def _upgrade_postgres(
    connection: AsyncConnection, settings: MigrationSettings
) -> MigrationResult:
    xact_lock = _transaction_level_lock(settings)
    if not xact_lock:
        # Session-level: held until this connection closes, also across migrations that
        # commit part-way (autocommit blocks). Concurrent runs wait, then find nothing to do.
        await _wait_for_lock(connection, settings, "pg_try_advisory_lock")
        await connection.commit()
    # One transaction for every pending revision (PostgreSQL has transactional DDL): a
    # failure leaves the schema where it was. SET LOCAL also works through PgBouncer.
    await connection.execute(text("SET LOCAL statement_timeout = 0"))
    await connection.execute(
        text(f"SET LOCAL lock_timeout = {int(settings.migration_ddl_lock_timeout_ms)}")
    )
    if xact_lock:
        await _wait_for_lock(connection, settings, "pg_try_advisory_xact_lock")
    result = await connection.run_sync(_upgrade)
    await connection.commit()
    return result


async def _run(settings: MigrationSettings, check: bool) -> MigrationResult:
    engine = create_migration_engine(settings)
    async with command_connection(
        engine, settings, settings.safe_migration_url, MigrationError
    ) as connection:
        if check:
            current = await current_revision(connection)
            return MigrationResult(before=current, after=current)
        if connection.dialect.name == "postgresql":
            return await _upgrade_postgres(connection, settings)
        result = await connection.run_sync(_upgrade)
        await connection.commit()
        return result


def _sqlstate(error: BaseException) -> str:
    cause = driver_cause(error)
    return str(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or "")


async def migrate(settings: MigrationSettings, *, check: bool = False) -> MigrationResult:
    """Upgrade to head (or, with `check`, only read the current revision)."""
    try:
        return await _run(settings, check)
    except MigrationError:
        raise
    except Exception as error:
        raise _explained(error, settings) from None


def _explained(error: Exception, settings: MigrationSettings) -> MigrationError:
    """What went wrong, in one line that names the cause (never a misleading timeout)."""
    cause = driver_cause(error)
    if isinstance(cause, OSError):
        return MigrationError(
            f"cannot connect to the database at {settings.safe_migration_url}: "
            f"{cause.strerror or type(cause).__name__}"
        )
    sqlstate = _sqlstate(error)
    if sqlstate == _LOCK_NOT_AVAILABLE:
        return MigrationError(
            "a migration statement waited more than "
            f"{settings.migration_ddl_lock_timeout_ms} ms for a table lock "
            "(MIGRATION_DDL_LOCK_TIMEOUT_MS): a long-running transaction holds the table; "
            "nothing was changed, retry when it has ended"
        )
    detail = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return MigrationError(
        f"migration failed on {settings.safe_migration_url}: {type(cause).__name__}{detail}"
    )
