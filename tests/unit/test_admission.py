"""The adaptive in-flight bound: lowered while the loop lags, raised back while it keeps up.

The rule is played with measurements given by hand (lags and loop times); the last
test runs the lag monitor on a real event loop that a blocking callback holds up.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from service.server.admission import ADJUST_EVERY, FLOOR, SEVERE, TICK, InFlight

TARGET = 0.02


def _busy(limit: int = 20) -> InFlight:
    """A bound with every slot taken."""
    in_flight = InFlight(limit, lag_target=TARGET)
    in_flight.count = limit
    return in_flight


def _feed(in_flight: InFlight, lag: float, seconds: float, *, start: float = 0.0) -> float:
    """One lag measurement per tick for `seconds`; the loop time after the last one."""
    now = start
    for tick in range(round(seconds / TICK)):
        now = start + tick * TICK
        in_flight.adjust(lag, now)
    return now + TICK


def test_a_loop_that_keeps_up_keeps_the_full_bound() -> None:
    in_flight = _busy()
    _feed(in_flight, TARGET / 4, 1.0)
    assert in_flight.bound == 20
    assert in_flight.full


def test_one_late_turn_is_not_overload() -> None:
    in_flight = _busy()
    now = _feed(in_flight, TARGET / 4, 0.5)
    in_flight.adjust(TARGET * 3, now)  # a collection, a moment without a CPU
    _feed(in_flight, TARGET / 4, 0.5, start=now + TICK)
    assert in_flight.bound == 20


def test_a_severely_late_turn_halves_the_bound_at_once() -> None:
    in_flight = _busy()
    now = _feed(in_flight, TARGET / 4, 0.5)
    in_flight.adjust(TARGET * SEVERE, now)
    assert in_flight.bound == 10
    in_flight.adjust(TARGET * SEVERE, now + TICK)
    assert in_flight.bound == 5, "however recent the last change"
    in_flight.adjust(TARGET * (SEVERE - 1), now + 2 * TICK)
    assert in_flight.bound == 5


def test_a_lagging_loop_lowers_the_bound_by_a_quarter_at_a_time() -> None:
    in_flight = _busy()
    _feed(in_flight, TARGET * 1.5, 0.2)
    assert 0 < in_flight.lowest < 20
    assert in_flight.bound == in_flight.lowest
    steps, bound = [], 20
    while bound != in_flight.bound:
        bound = int(bound * 0.75)
        steps.append(bound)
    assert steps[-1] == in_flight.bound, "each step a quarter less"
    assert len(steps) <= 0.2 / ADJUST_EVERY + 1, "at most once per interval"


def test_a_loop_twice_as_late_as_the_target_halves_the_bound() -> None:
    in_flight = _busy(limit=80)
    in_flight.lag = TARGET * 3  # smoothed over the turns before
    _feed(in_flight, TARGET * 3, ADJUST_EVERY)
    assert in_flight.bound == 40
    _feed(in_flight, TARGET * 3, 1.0, start=ADJUST_EVERY)
    assert in_flight.bound == 20, "and never below the floor"


@pytest.mark.parametrize(("limit", "floor"), [(20, 5), (100, 25), (6, FLOOR), (1, 1)])
def test_the_bound_never_falls_below_a_quarter_of_the_limit(limit: int, floor: int) -> None:
    in_flight = _busy(limit)
    _feed(in_flight, 1.0, 2.0)
    assert in_flight.bound == floor


def test_the_bound_rises_by_one_per_interval_while_it_holds_requests_back() -> None:
    in_flight = _busy()
    now = _feed(in_flight, 1.0, 0.2)
    lowered = in_flight.bound
    in_flight.count = lowered
    # The smoothed lag first has to come down under half the target.
    now = _feed(in_flight, 0.0, 0.3, start=now)
    in_flight.count = in_flight.bound
    risen = in_flight.bound
    assert lowered <= risen < 20
    for _ in range(100):
        in_flight.count = in_flight.bound
        before = in_flight.bound
        now = _feed(in_flight, 0.0, ADJUST_EVERY, start=now)
        assert in_flight.bound - before <= 1, "at most one step per interval"
    assert in_flight.bound == 20, "never above MAX_IN_FLIGHT"


def test_an_unused_bound_is_not_raised() -> None:
    in_flight = _busy()
    now = _feed(in_flight, 1.0, 0.2)
    lowered = in_flight.bound
    in_flight.count = 3
    _feed(in_flight, 0.0, 1.0, start=now)
    assert in_flight.bound == lowered
    assert not in_flight.full


def test_a_lag_between_half_the_target_and_the_target_holds_the_bound() -> None:
    in_flight = _busy()
    now = _feed(in_flight, 1.0, 0.1)
    lowered = in_flight.bound
    now = _feed(in_flight, TARGET * 0.75, 0.5, start=now)  # the smoothed lag settles
    held = in_flight.bound
    in_flight.count = held
    _feed(in_flight, TARGET * 0.75, 1.0, start=now)
    assert in_flight.bound == held <= lowered


def test_without_a_lag_target_the_bound_is_fixed() -> None:
    in_flight = InFlight(20)
    in_flight.count = 20
    _feed(in_flight, 10.0, 1.0)
    assert in_flight.bound == 20
    in_flight.watch(asyncio.new_event_loop())
    assert in_flight._monitor is None


async def test_the_monitor_measures_a_real_loop_held_up() -> None:
    in_flight = _busy()
    in_flight.watch(asyncio.get_running_loop())
    in_flight.watch(asyncio.get_running_loop())  # a second connection starts nothing more
    await asyncio.sleep(0.05)
    in_flight.bound = 20  # whatever the machine's own noise did to it
    for _ in range(10):  # a loop held up turn after turn, by long CPU-bound steps
        time.sleep(TARGET * 3)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0)
    await asyncio.sleep(0.02)
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


def test_the_bound_is_published_as_it_changes() -> None:
    from prometheus_client import REGISTRY

    def published() -> float | None:
        return REGISTRY.get_sample_value("tasks_api_in_flight_bound")

    in_flight = _busy(limit=40)
    assert published() == 40
    now = _feed(in_flight, TARGET * SEVERE, TICK)
    assert published() == in_flight.bound == 20
    in_flight.count = in_flight.bound
    _feed(in_flight, 0.0, 1.0, start=now + 1.0)
    assert published() == in_flight.bound > 20
