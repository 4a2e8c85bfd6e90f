"""Sessions: a ReadSession in autocommit or a WriteSession in one transaction, per request.

Each endpoint declares which one it needs (see service/dependencies.py): reads run
without BEGIN/COMMIT, which saves two round trips per request; writes run in one
transaction that is committed before the response is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from service.config import Settings
from service.db.engine import create_engine


class ReadOnlySessionError(RuntimeError):
    """A ReadSession was asked to write: in autocommit each write would commit at once."""


class _ReadOnlySyncSession(Session):
    """The synchronous session under a ReadSession; it refuses to write."""


@event.listens_for(_ReadOnlySyncSession, "do_orm_execute")
def _refuse_statements_that_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("a ReadSession cannot write; declare a WriteSession")


@event.listens_for(_ReadOnlySyncSession, "before_flush")
def _refuse_flushes_that_write(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("a ReadSession cannot write; declare a WriteSession")


class ReadSession(AsyncSession):
    """A session in autocommit, for requests that only read: each statement sees committed data."""

    sync_session_class = _ReadOnlySyncSession


class WriteSession(AsyncSession):
    """A session in one transaction, committed before the response is sent."""


@dataclass(frozen=True)
class Database:
    """The engine of this worker and its two kinds of sessions."""

    engine: AsyncEngine
    read_sessions: async_sessionmaker[ReadSession]
    write_sessions: async_sessionmaker[WriteSession]

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def open_database(settings: Settings) -> Database:
    """The serving engine and its session factories.

    Sessions keep loaded attributes after commit: responses are built after it.
    """
    engine = create_engine(settings)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        engine=engine,
        read_sessions=async_sessionmaker(
            autocommit, class_=ReadSession, expire_on_commit=False, autoflush=False
        ),
        write_sessions=async_sessionmaker(
            engine, class_=WriteSession, expire_on_commit=False, autoflush=False
        ),
    )
