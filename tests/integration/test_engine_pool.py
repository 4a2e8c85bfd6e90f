"""The serving engine's pool on PostgreSQL, cut off through a TCP proxy owned by the test.

Checkouts are not pre-pinged (a ping is three round trips): a connection closed by
its peer is replaced without I/O, one idle for a while is pinged, and a command
timeout invalidates the pool. Reads run in autocommit; writes in a transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db import pool as db_pool
from service.db.errors import driver_cause, is_database_unavailable
from service.db.session import Database, open_database
from tests.support.apps import make_settings
from tests.support.proxy import Mode, StallingProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxy(database_url: URL) -> Iterator[StallingProxy]:
    """A proxy in front of the session's PostgreSQL database."""
    with StallingProxy(database_url.host or "127.0.0.1", database_url.port or 5432) as running:
        yield running


@pytest.fixture
async def database(database_url: URL, proxy: StallingProxy) -> AsyncIterator[Database]:
    """The serving engine and its sessions, reaching PostgreSQL only through the proxy."""
    url = database_url.set(host="127.0.0.1", port=proxy.port)
    # Command timeout: statement timeout + 1 s = 1.5 s.
    settings = make_settings(url, db_connect_timeout_seconds=1, db_statement_timeout_ms=500)
    serving = open_database(settings)
    yield serving
    await serving.close()


@pytest.fixture
def engine(database: Database) -> AsyncEngine:
    """The pooled serving engine."""
    return database.engine


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def test_connection_closed_by_its_peer_is_replaced_at_checkout(
    engine: AsyncEngine, proxy: StallingProxy
) -> None:
    first = await _backend_pid(engine)
    proxy.set_mode(Mode.REFUSE)  # drops the pooled connection's socket
    proxy.set_mode(Mode.FORWARD)
    await asyncio.sleep(0.2)  # the RST arrives; the next checkout comes well within the idle ping
    second = await _backend_pid(engine)
    assert second != first, "the closed connection was handed out again"


async def test_connection_dropped_while_refused_fails_then_pool_recovers(
    engine: AsyncEngine, proxy: StallingProxy
) -> None:
    await _backend_pid(engine)
    proxy.set_mode(Mode.REFUSE)
    with pytest.raises(DBAPIError) as refused:
        await _backend_pid(engine)
    assert is_database_unavailable(refused.value)
    proxy.set_mode(Mode.FORWARD)
    assert await _backend_pid(engine) > 0


async def test_command_timeout_discards_the_silent_connections(
    engine: AsyncEngine, proxy: StallingProxy
) -> None:
    async with engine.connect() as first, engine.connect() as second:
        pooled = {
            (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            for connection in (first, second)
        }
    proxy.stall(forward_new=True)  # both pooled connections go silent; new ones work
    # asyncpg's command timeout, after 1.5 s, raised as the outage it is.
    with pytest.raises(OperationalError) as timed_out:
        await _backend_pid(engine)
    assert isinstance(driver_cause(timed_out.value), TimeoutError)
    assert is_database_unavailable(timed_out.value)
    # The other silent connection is not handed out (it would time out too): the
    # next checkout opens a fresh connection, which answers.
    assert await asyncio.wait_for(_backend_pid(engine), 1.0) not in pooled


async def test_silent_idle_connection_is_not_handed_out(
    engine: AsyncEngine, proxy: StallingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_pool, "IDLE_PING_SECONDS", 0.0)
    first = await _backend_pid(engine)
    assert await _backend_pid(engine) == first, "a live idle connection is kept"
    proxy.stall()
    # The ping fails, and the connection that replaces it cannot be opened in time.
    with pytest.raises(OperationalError) as timed_out:
        async with engine.connect():
            pytest.fail("the silent connection was handed out unpinged")
    assert isinstance(driver_cause(timed_out.value), TimeoutError)
    assert is_database_unavailable(timed_out.value)
    proxy.heal()
    assert await _backend_pid(engine) != first


async def test_reads_run_in_autocommit_and_writes_in_a_transaction(database: Database) -> None:
    async with database.read_sessions() as session:
        await session.execute(text("SELECT 1"))
        driver = (await session.connection()).sync_connection
        assert driver is not None
        assert not driver.connection.driver_connection.is_in_transaction()  # type: ignore[union-attr]
    async with database.write_sessions() as session:
        await session.execute(text("SELECT 1"))
        driver = (await session.connection()).sync_connection
        assert driver is not None
        assert driver.connection.driver_connection.is_in_transaction()  # type: ignore[union-attr]
