"""The adaptive in-flight bound: lowered while the loop lags, raised back while it keeps up.

The rule is played with measurements given by hand (lags and loop times); the last
test runs the lag monitor on a real event loop that a blocking callback holds up.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from service.server.admission import FLOOR, RAISE_EVERY, InFlight

TARGET = 0.02


def _busy(limit: int = 20) -> InFlight:
    """A bound with every slot taken."""
    in_flight = InFlight(limit, lag_target=TARGET)
    in_flight.count = limit
    return in_flight


def test_a_loop_that_keeps_up_keeps_the_full_bound() -> None:
    in_flight = _busy()
    for tick in range(100):
        in_flight.adjust(TARGET / 4, now=tick * 0.01)
    assert in_flight.bound == 20
    assert in_flight.full


def test_a_lagging_loop_lowers_the_bound_by_a_quarter_each_time() -> None:
    in_flight = _busy()
    in_flight.adjust(TARGET * 1.5, now=1.0)
    assert in_flight.bound == 15
    in_flight.adjust(TARGET * 1.5, now=1.1)
    assert in_flight.bound == 11
    assert in_flight.lowest == 11


def test_a_loop_twice_as_late_as_the_target_halves_the_bound() -> None:
    in_flight = _busy(limit=40)
    in_flight.adjust(TARGET * 2, now=1.0)
    assert in_flight.bound == 20
    in_flight.adjust(TARGET * 30, now=1.1)
    assert in_flight.bound == 10, "and never below the floor"
    in_flight.adjust(TARGET * 30, now=1.2)
    assert in_flight.bound == 10


@pytest.mark.parametrize(("limit", "floor"), [(20, 5), (100, 25), (6, FLOOR), (1, 1)])
def test_the_bound_never_falls_below_a_quarter_of_the_limit(limit: int, floor: int) -> None:
    in_flight = _busy(limit)
    for tick in range(50):
        in_flight.adjust(1.0, now=tick)
    assert in_flight.bound == floor


def test_the_bound_rises_by_one_per_interval_while_it_holds_requests_back() -> None:
    in_flight = _busy()
    in_flight.adjust(TARGET * 1.5, now=0.0)  # 15
    in_flight.count = in_flight.bound
    in_flight.adjust(0.0, now=RAISE_EVERY / 2)
    assert in_flight.bound == 15, "at most one step per interval"
    for step in range(1, 20):
        in_flight.count = in_flight.bound
        in_flight.adjust(0.0, now=step * RAISE_EVERY)
    assert in_flight.bound == 20, "never above MAX_IN_FLIGHT"


def test_an_unused_bound_is_not_raised() -> None:
    in_flight = _busy()
    in_flight.adjust(TARGET * 1.5, now=0.0)
    in_flight.count = 3
    for step in range(1, 10):
        in_flight.adjust(0.0, now=step * RAISE_EVERY)
    assert in_flight.bound == 15
    assert not in_flight.full


def test_a_lag_between_half_the_target_and_the_target_holds_the_bound() -> None:
    in_flight = _busy()
    in_flight.adjust(TARGET * 1.5, now=0.0)
    in_flight.count = in_flight.bound
    for step in range(1, 10):
        in_flight.adjust(TARGET * 0.75, now=step * RAISE_EVERY)
    assert in_flight.bound == 15


def test_without_a_lag_target_the_bound_is_fixed() -> None:
    in_flight = InFlight(20)
    in_flight.count = 20
    in_flight.adjust(10.0, now=0.0)
    assert in_flight.bound == 20
    in_flight.watch(asyncio.new_event_loop())
    assert in_flight._monitor is None


async def test_the_monitor_measures_a_real_loop_held_up() -> None:
    in_flight = _busy()
    in_flight.watch(asyncio.get_running_loop())
    in_flight.watch(asyncio.get_running_loop())  # a second connection starts nothing more
    await asyncio.sleep(0.05)
    in_flight.bound = 20  # whatever the machine's own noise did to it
    time.sleep(TARGET * 5)  # noqa: ASYNC251 - what a long CPU-bound step does to the loop
    await asyncio.sleep(0.05)
    assert in_flight.bound < 20
    monitor = in_flight._monitor
    assert monitor is not None
    monitor.cancel()


@pytest.mark.parametrize("lag", [0.0, TARGET])
def test_admitted_requests_count_until_they_finish(lag: float) -> None:
    in_flight = InFlight(2, lag_target=lag or None)
    seen: list[int] = []

    async def app(scope: object, receive: object, send: object) -> None:
        seen.append(in_flight.count)
        raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        asyncio.run(in_flight.admitted(app)({}, None, None))  # type: ignore[arg-type]
    assert seen == [1]
    assert in_flight.count == 0, "a failed request gives its slot back"
