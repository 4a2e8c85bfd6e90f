"""Database metrics: pool gauges, time to obtain a connection, statement durations."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, ExceptionContext, ExecutionContext
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import (
    AsyncAdaptedQueuePool,
    ConnectionPoolEntry,
    Pool,
    PoolProxiedConnection,
    QueuePool,
)

from service.telemetry import metrics

_STARTED = "_tasks_api_query_started"
_WRITE_VERB = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


class InstrumentedAsyncQueuePool(AsyncAdaptedQueuePool):
    """The asyncio queue pool, measuring checkouts and keeping the pool gauges current.

    The gauges are refreshed after a checkout and after a connection is back
    in the queue; the pool's checkin event fires before that, too early to count.
    """

    # Log as SQLAlchemy's own pool does, so its logger levels still apply.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _update_pool_gauges(self)

    def connect(self) -> PoolProxiedConnection:
        started = time.perf_counter()
        try:
            return super().connect()
        finally:
            # Waiting for a free slot, opening a connection and the pre-ping all
            # delay the request; a timeout is observed too (it waited that long).
            metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)
            _update_pool_gauges(self)

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            _update_pool_gauges(self)

    def dispose(self) -> None:
        super().dispose()
        _update_pool_gauges(self)


def instrumented_pool_class(url: URL) -> type[Pool] | None:
    """The measuring pool class when the dialect pools with the asyncio queue pool."""
    dialect = url.get_dialect()
    default = dialect.get_pool_class(url) if issubclass(dialect, DefaultDialect) else None
    return InstrumentedAsyncQueuePool if default is AsyncAdaptedQueuePool else None


def statement_operation(statement: str) -> str:
    """SELECT / INSERT / UPDATE / DELETE, or OTHER, from the statement's first keyword."""
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    keyword = words[0].upper() if words else ""
    if keyword == "WITH":
        # A CTE: it writes if any part writes, otherwise it reads.
        written = _WRITE_VERB.search(statement)
        return written.group(1).upper() if written else "SELECT"
    return keyword if keyword in metrics.DB_OPERATIONS else "OTHER"


def _update_pool_gauges(pool: QueuePool) -> None:
    metrics.DB_POOL_SIZE.set(pool.size())
    metrics.DB_POOL_CHECKED_OUT.set(pool.checkedout())
    # QueuePool counts overflow from -pool_size up; only connections beyond the size count.
    metrics.DB_POOL_OVERFLOW.set(max(pool.overflow(), 0))
    max_overflow = _max_overflow(pool)
    metrics.DB_POOL_MAX_OVERFLOW.set(max(max_overflow, 0))
    metrics.DB_POOL_SATURATION.set(pool_saturation(pool.checkedout(), pool.size(), max_overflow))


def _max_overflow(pool: QueuePool) -> int:
    # QueuePool keeps it private; -1 means no limit.
    value = getattr(pool, "_max_overflow", 0)
    return value if isinstance(value, int) else 0


def pool_saturation(checked_out: int, size: int, max_overflow: int) -> float:
    """Share of the connections a worker may hold that are checked out (0 with no limit)."""
    if max_overflow < 0:
        # Unlimited overflow never makes a request wait for a slot.
        return 0.0
    capacity = size + max_overflow
    return min(checked_out / capacity, 1.0) if capacity > 0 else 0.0


def _before_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    if context is not None:
        setattr(context, _STARTED, time.perf_counter())


def _after_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    _observe(context, statement)


def _on_error(exception_context: ExceptionContext) -> None:
    statement = exception_context.statement
    if statement is not None:
        _observe(exception_context.execution_context, statement)


def _observe(context: ExecutionContext | None, statement: str) -> None:
    started = getattr(context, _STARTED, None)
    if started is None:
        return
    delattr(context, _STARTED)
    duration = time.perf_counter() - started
    metrics.DB_QUERY_DURATION.labels(operation=statement_operation(statement)).observe(duration)


def observe_engine(engine: AsyncEngine) -> None:
    """Record the duration of every statement this engine executes."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _before_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_execute)
    event.listen(sync_engine, "handle_error", _on_error)
