"""`tasks-api purge`: delete expired rows in small transactions, within a bound of batches and time.

Each batch is one short transaction that deletes at most PURGE_BATCH_SIZE rows of one
table; the tables take turns, so that a backlog in one does not starve the others. A run
ends when no table has expired rows left, or at PURGE_MAX_BATCHES or PURGE_MAX_SECONDS,
whichever comes first; what is left waits for the next run. Concurrent runs are safe:
each row is deleted, and counted, by exactly one of them (see targets.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Delete

from service.config import PurgeSettings
from service.db.engine import command_connection, create_purge_engine
from service.db.errors import driver_cause, sqlstate_of
from service.db.types import utcnow
from service.maintenance.targets import TARGETS, Target

_QUERY_CANCELED = "57014"
_UNDEFINED_TABLE = "42P01"


class PurgeError(RuntimeError):
    """A purge run could not complete; the message is safe to print."""


@dataclass
class PurgeResult:
    """How many rows of each kind a run deleted, and why it ended."""

    deleted: dict[str, int] = field(default_factory=lambda: {t.label: 0 for t in TARGETS})
    batches: int = 0
    seconds: float = 0.0
    # The setting that ended the run while expired rows remained; None when none remain.
    stopped_by: str | None = None

    def summary(self) -> str:
        """The one line `tasks-api purge` prints."""
        counts = ", ".join(f"{count} {label}" for label, count in self.deleted.items())
        line = f"purged {counts} in {self.seconds:.1f} s"
        if self.stopped_by is not None:
            line += f" (stopped at {self.stopped_by}; the rest is left for the next run)"
        return line


async def purge(settings: PurgeSettings) -> PurgeResult:
    """Delete what is past keeping from every target table, in bounded batches."""
    try:
        return await _run(settings)
    except PurgeError:
        raise
    except Exception as error:
        raise _explained(error, settings) from None


async def _run(settings: PurgeSettings) -> PurgeResult:
    engine = create_purge_engine(settings)
    async with command_connection(
        engine, settings, settings.safe_database_url, PurgeError
    ) as connection:
        return await _purge_all(connection, settings)


async def _purge_all(connection: AsyncConnection, settings: PurgeSettings) -> PurgeResult:
    started = time.monotonic()
    deadline = started + settings.purge_max_seconds
    start = utcnow() - timedelta(seconds=settings.purge_grace_seconds)
    result = PurgeResult()
    pending: list[Target] = list(TARGETS)
    while pending and result.stopped_by is None:
        for target in list(pending):
            if result.batches >= settings.purge_max_batches:
                result.stopped_by = "PURGE_MAX_BATCHES"
                break
            statement = target.batch(start=start, size=settings.purge_batch_size)
            deleted = await _batch(connection, statement, deadline)
            if deleted is None:
                result.stopped_by = "PURGE_MAX_SECONDS"
                break
            result.batches += 1
            result.deleted[target.label] += deleted
            if deleted < settings.purge_batch_size:
                pending.remove(target)
    result.seconds = time.monotonic() - started
    return result


async def _batch(connection: AsyncConnection, statement: Delete, deadline: float) -> int | None:
    """Run one batch in its own transaction; None when the time bound ended it (rolled back)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    postgres = connection.dialect.name == "postgresql"
    try:
        async with connection.begin():
            if postgres:
                # The time bound holds inside a batch too; SET LOCAL also works behind PgBouncer.
                timeout_ms = max(1, int(remaining * 1000))
                await connection.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
            deleted = await connection.execute(statement)
    except DBAPIError as error:
        if postgres and sqlstate_of(error) == _QUERY_CANCELED and time.monotonic() >= deadline:
            return None
        raise
    return int(deleted.rowcount)


def _explained(error: Exception, settings: PurgeSettings) -> PurgeError:
    """What went wrong, in one line that names the cause and never the password."""
    url = settings.safe_database_url
    cause = driver_cause(error)
    if isinstance(cause, OSError):
        return PurgeError(
            f"cannot connect to the database at {url}: {cause.strerror or type(cause).__name__}"
        )
    sqlstate = sqlstate_of(error) if isinstance(error, DBAPIError) else ""
    if sqlstate == _UNDEFINED_TABLE or "no such table" in str(cause):
        return PurgeError(f"the database at {url} has no tasks-api tables: run tasks-api migrate")
    detail = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return PurgeError(f"purge failed on {url}: {type(cause).__name__}{detail}")
