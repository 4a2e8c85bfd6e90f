"""The pool saturation gauge counts max_overflow and reports the most saturated worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from service.telemetry.database import InstrumentedAsyncQueuePool, pool_saturation


def _sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name, {})


async def test_saturation_counts_overflow_connections_as_capacity(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=InstrumentedAsyncQueuePool,
        pool_size=2,
        max_overflow=2,
    )
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            # The pool's size is used up, but two overflow connections are left.
            assert _sample("tasks_api_db_pool_saturation_ratio") == 0.5
            assert _sample("tasks_api_db_pool_max_overflow") == 2
            async with engine.connect() as third, engine.connect() as fourth:
                await third.execute(text("SELECT 1"))
                await fourth.execute(text("SELECT 1"))
                assert _sample("tasks_api_db_pool_saturation_ratio") == 1.0
        assert _sample("tasks_api_db_pool_saturation_ratio") == 0.0
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("checked_out", "size", "max_overflow", "expected"),
    [
        (0, 10, 10, 0.0),
        (10, 10, 10, 0.5),
        (20, 10, 10, 1.0),
        (5, 5, 0, 1.0),
        # Unlimited overflow never makes a checkout wait.
        (50, 5, -1, 0.0),
        # A pool with no capacity at all (never configured so) is not saturated.
        (0, 0, 0, 0.0),
    ],
)
def test_pool_saturation_bounds(
    checked_out: int, size: int, max_overflow: int, expected: float
) -> None:
    assert pool_saturation(checked_out, size, max_overflow) == expected
