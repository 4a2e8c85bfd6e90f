"""The serving pool keeps the connections a worker may use at once: bursts open none anew.

SQLAlchemy's queue pool keeps DB_POOL_SIZE idle connections and closes every other one
as it comes back (the DB_MAX_OVERFLOW ones). A worker whose requests in flight move
between fewer and more than DB_POOL_SIZE therefore closed and reopened connections all
the time: a PostgreSQL backend started, and every statement prepared again, for a
request that only had to wait its turn. With the defaults a worker keeps every
connection its in-flight bound lets it use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.db.session import Database, open_database
from tests.support.apps import make_settings

pytestmark = pytest.mark.postgres


class Connects:
    """Counts the connections the engine's pool opens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine.pool, "connect", self._opened)

    def _opened(self, *_: Any) -> None:
        self.count += 1


async def _hold(engine: AsyncEngine, connections: int) -> None:
    # `connections` checked out at once, each used, then all given back.
    async with AsyncExitStack() as stack:
        for _ in range(connections):
            connection = await stack.enter_async_context(engine.connect())
            await connection.execute(text("SELECT 1"))


@pytest.fixture
async def serving(database_url: URL, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The serving engine with the given pool settings (the defaults unless parametrised)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    database = open_database(make_settings(database_url, **overrides))
    yield database
    await database.close()


def _in_flight_limit(overrides: dict[str, Any]) -> int:
    return Settings(**overrides).in_flight_limit


async def test_bursts_up_to_the_in_flight_bound_open_no_connection_anew(
    serving: Database,
) -> None:
    limit = _in_flight_limit({})
    connects = Connects(serving.engine)
    for _ in range(5):
        await _hold(serving.engine, limit)  # a burst: every request the worker admits
        await _hold(serving.engine, 3)  # then a lull
    assert connects.count == limit
    pool = serving.engine.sync_engine.pool
    assert pool.checkedin() == limit  # type: ignore[attr-defined]


@pytest.mark.parametrize("serving", [{"db_pool_size": 4, "db_max_overflow": 4}], indirect=True)
async def test_overflow_connections_set_by_hand_are_closed_after_each_burst(
    serving: Database,
) -> None:
    # What DB_MAX_OVERFLOW means: connections for a burst, given back to PostgreSQL after
    # it, and opened again for the next one.
    connects = Connects(serving.engine)
    for _ in range(3):
        await _hold(serving.engine, 8)
    assert connects.count == 4 + 3 * 4
    assert serving.engine.sync_engine.pool.checkedin() == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "serving",
    [{"db_pool_size": 4, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}],
    indirect=True,
)
async def test_a_checkout_beyond_the_kept_connections_waits_and_opens_none(
    serving: Database,
) -> None:
    connects = Connects(serving.engine)
    with pytest.raises(PoolTimeoutError):
        await _hold(serving.engine, 5)
    assert connects.count == 4
