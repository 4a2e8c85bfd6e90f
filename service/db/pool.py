"""How the serving engine finds dead pooled PostgreSQL connections, without pre-ping.

`pool_pre_ping` costs three round trips on every checkout. Instead:

- a connection whose socket the peer closed (server restart, failover, a proxy or
  PgBouncer dropping it) is known without I/O and replaced at checkout;
- a connection that sat unused for IDLE_PING_SECONDS is pinged first, because a
  peer that vanished without closing shows only then;
- a command timeout (asyncpg's, which fires only when the server stopped answering:
  statement_timeout answers first) marks every connection opened before it as
  suspect. They are replaced at their next checkout and terminated at once, rather
  than each costing a request its own timeout and a polite close another 2 s.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError

# A pooled connection unused for longer than this is pinged before a request gets it;
# one in steady use is not (a ping is a round trip).
IDLE_PING_SECONDS = 1.0


def _terminate(record: Any) -> None:
    terminate = getattr(record.driver_connection, "terminate", None)
    if callable(terminate):
        terminate()


class PoolGuard:
    """The pool and dialect listeners of one engine."""

    def __init__(self) -> None:
        self.suspect_before = 0.0

    def install(self, engine: Engine) -> None:
        """Listen on the engine's pool and dialect."""
        pool = engine.pool
        event.listen(pool, "connect", self.stamp_connect)
        event.listen(pool, "checkin", self.stamp_checkin)
        event.listen(pool, "checkout", self.check_out)
        event.listen(pool, "invalidate", self.terminate_invalidated)
        event.listen(pool, "close", self.terminate_suspect)
        event.listen(engine, "handle_error", self.timeouts_are_disconnects)

    @staticmethod
    def stamp_connect(_: Any, record: Any) -> None:
        """Remember when the connection was opened."""
        record.info["opened_at"] = time.monotonic()

    @staticmethod
    def stamp_checkin(_: Any, record: Any) -> None:
        """Remember when the connection went back to the pool."""
        record.info["returned_at"] = time.monotonic()

    def suspect(self, record: Any) -> bool:
        """Whether the connection was opened before the last command timeout."""
        opened_at: float = record.info.get("opened_at", 0.0)
        return opened_at < self.suspect_before

    def check_out(self, dbapi_connection: Any, record: Any, _: Any) -> None:
        """Refuse a closed, suspect or idle-and-dead connection; the pool opens another."""
        driver = record.driver_connection
        if driver is not None and driver.is_closed():
            raise DisconnectionError("pooled connection was closed by its peer")
        if self.suspect(record):
            raise DisconnectionError("pooled connection predates a command timeout")
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise DisconnectionError("pooled connection failed its ping") from error

    @staticmethod
    def terminate_invalidated(_: Any, record: Any, __: BaseException | None) -> None:
        """Close an invalidated connection at once (a polite close waits for the server)."""
        _terminate(record)

    def terminate_suspect(self, _: Any, record: Any) -> None:
        """Close a suspect connection at once when the pool discards it."""
        if self.suspect(record):
            _terminate(record)

    def timeouts_are_disconnects(self, context: ExceptionContext) -> None:
        """A command timeout discards its connection and makes the others suspect."""
        if isinstance(context.original_exception, TimeoutError):
            context.is_disconnect = True
            self.suspect_before = time.monotonic()
