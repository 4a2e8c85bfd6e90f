"""The database's schema revision for readiness, in one statement once the table is known.

Alembic's own answer (`current_revision`) first asks the catalogue whether the version
table exists and then reads it: two statements, and the probe's `SELECT 1` before them.
Under load every statement of a probe waits for the worker's event loop, so a probe
that runs every few seconds should send one. Once a check has found the version
table, the next checks read it directly; a failing read or a table without exactly
one revision sends the next check back to Alembic's answer, which tells an empty,
a branched or an unreachable database apart as before.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.migrate import current_revision

# Alembic's default version table, which the migrations use.
_VERSION_ROWS = text("SELECT version_num FROM alembic_version")


class RevisionProbe:
    """The current revision, as Alembic tells it, at one statement per check once known."""

    def __init__(self) -> None:
        self._table_seen = False

    async def current(self, connection: AsyncConnection) -> str | None:
        """The revision the database is at (None for an empty database)."""
        if self._table_seen:
            self._table_seen = False  # until this read finds the table again
            try:
                revisions = (await connection.execute(_VERSION_ROWS)).scalars().all()
            except DBAPIError:
                # Gone, or the database is: Alembic's answer tells which (a failed
                # statement ends PostgreSQL's transaction first).
                await connection.rollback()
            else:
                if len(revisions) == 1:
                    self._table_seen = True
                    return str(revisions[0])
        revision = await current_revision(connection)
        self._table_seen = revision is not None
        return revision
