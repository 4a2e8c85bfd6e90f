"""What the database driver and the pool raise, and which of it means the database is unavailable.

asyncpg raises some failures as built-in exceptions instead of DBAPI errors: a
connection that cannot be opened (OSError; TimeoutError at the connect timeout) and
a command that outlived its client-side timeout (TimeoutError). The engine turns
those into SQLAlchemy's OperationalError where they leave the driver (see
`translate_driver_errors`), so that a TimeoutError or ConnectionError raised anywhere
else stays what it is: a defect, answered with a 500, not an outage. Likewise an
error the driver raises about the request itself (asyncpg's InterfaceError and
DataError: too many bind parameters, a value it cannot encode) is a defect, not an
outage; only a lost connection among them means the database is unavailable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import ConnectionPoolEntry

# SQLite reports missing tables as OperationalError too: only these messages are outages.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "is full")

# 57014 query_canceled (statement_timeout), 57P01-03 shutdown / cannot connect now,
# 53300 too_many_connections, 55P03 lock_not_available (lock_timeout).
_UNAVAILABLE_SQLSTATES = frozenset({"57014", "57P01", "57P02", "57P03", "53300", "55P03"})

_UNAVAILABLE_DRIVER_ERRORS = frozenset(
    {
        "QueryCanceledError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "InternalClientError",
        "ProtocolError",
    }
)


def sqlstate_of(error: DBAPIError) -> str:
    """The SQLSTATE the server (or the driver) gave the wrapped error; empty when none."""
    return str(getattr(error.orig, "sqlstate", None) or "")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether an error of the pool or the driver means the database was unreachable or too slow."""
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if isinstance(exc, OperationalError) and _is_sqlite_error(orig):
        return any(sign in str(orig).lower() for sign in _SQLITE_UNAVAILABLE)
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, InterfaceError):
        # Unless the connection is gone, the driver refused the request itself (more bind
        # parameters than the protocol carries, a value it cannot encode for the column's
        # type, a misuse): the request or the code is at fault, the database is fine.
        return _lost_connection(exc)
    # SQLAlchemy's asyncpg adapter may wrap driver errors in generic classes: the
    # SQLSTATE says what happened (08xxx connection exceptions, cancellations).
    sqlstate = sqlstate_of(exc)
    return (
        exc.connection_invalidated
        or type(orig).__name__ in _UNAVAILABLE_DRIVER_ERRORS
        or sqlstate in _UNAVAILABLE_SQLSTATES
        or sqlstate.startswith("08")
    )


def _lost_connection(exc: InterfaceError) -> bool:
    # asyncpg raises its InterfaceError for a closed connection too ("connection is
    # closed", ConnectionDoesNotExistError); SQLAlchemy then flags the connection invalid.
    cause = driver_cause(exc)
    return (
        exc.connection_invalidated
        or type(cause).__name__ in _UNAVAILABLE_DRIVER_ERRORS
        or "connection is closed" in str(cause)
    )


def _is_sqlite_error(orig: BaseException | None) -> bool:
    return orig is not None and type(orig).__module__.startswith("sqlite3")


def driver_cause(exc: BaseException) -> BaseException:
    """What the driver itself raised, under SQLAlchemy's wrapper; other errors as they are."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return exc
    orig = exc.orig
    # The async adapters (and the connect translation) re-raise the driver's exception as
    # their own DBAPI error class, from the original.
    if orig.__cause__ is not None and type(orig).__module__.startswith("sqlalchemy."):
        return orig.__cause__
    return orig


def translate_driver_errors(engine: Engine) -> None:
    """Make the driver's built-in OSError and TimeoutError arrive as OperationalError."""
    event.listen(engine, "do_connect", _connect)
    event.listen(engine, "handle_error", _statement_failure)


def _connect(
    dialect: Dialect, _: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        # Raised as the driver's own DBAPI error, SQLAlchemy wraps it like any other.
        dbapi = dialect.loaded_dbapi
        raise dbapi.OperationalError(f"cannot connect: {type(error).__name__}") from error


def _statement_failure(context: ExceptionContext) -> BaseException | None:
    error = context.original_exception
    if not isinstance(error, OSError):
        return None
    return OperationalError(
        context.statement,
        None,
        error,
        hide_parameters=True,
        connection_invalidated=context.is_disconnect,
    )
