"""How many API requests a worker admits at once: MAX_IN_FLIGHT, lowered while its loop lags.

A worker is one event loop on (at most) one core. A fixed bound sized from the database
pool keeps requests from waiting for a connection, but not from waiting for the CPU:
where requests cost more CPU than they wait for the database, 20 of them in flight make
every turn of the loop long, and everything the loop does next waits for it, the shed
answers and the probes included. So the bound adapts (AIMD, as TCP's congestion window):

- a timer due every TICK seconds measures the loop's lag, how late it ran, smoothed
  (a quarter of each measurement, as TCP smooths round-trip times), so that one long
  step, a collection or a moment without a CPU does not count as overload;
- a smoothed lag over SHED_LOOP_LAG_MS lowers the bound by a quarter, by half from
  twice the target, at most once every ADJUST_EVERY seconds, not below a quarter of
  MAX_IN_FLIGHT (FLOOR at least); one turn SEVERE times later than the target halves
  it at once: the start of an overload must not wait for the average to catch up;
- while the smoothed lag stays under half the target and the bound is what holds
  requests back, it rises by one every ADJUST_EVERY seconds, up to MAX_IN_FLIGHT.

The lag gauge (service/telemetry/runtime.py) samples the same lag every 250 ms for the
dashboards; this timer samples it every 10 ms to steer admission, and publishes the
bound as tasks_api_in_flight_bound.

An idle or I/O-bound worker never lags, so it keeps the full bound; a worker whose CPU
is the limit (its own load, a CPU limit's throttling, a busy node) admits what its loop
can turn over in time and answers the rest at once with 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

TICK = 0.01
ADJUST_EVERY = 0.05
_SMOOTHING = 0.25
SEVERE = 4
FLOOR = 2
_DECREASE = 0.75
_DECREASE_MOST = 0.5
_SHED_SUMMARY_SECONDS = 10.0
log = structlog.get_logger("service.server")


@dataclass
class InFlight:
    """The API requests in flight in this worker, against its current bound."""

    limit: int  # MAX_IN_FLIGHT: the bound never rises above it
    lag_target: float | None = None  # seconds; None: the bound is fixed at `limit`
    count: int = 0
    bound: int = field(init=False)
    floor: int = field(init=False)
    shed: int = 0
    lowest: int = field(init=False)  # the lowest bound since the last summary line
    summary_at: float = 0.0
    lag: float = 0.0  # smoothed, seconds
    _adjusted_at: float = -ADJUST_EVERY
    _monitor: asyncio.TimerHandle | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.bound = self.lowest = self.limit
        _publish(self.bound)
        # A client that answers every 503 at once with a new request (a closed-loop load
        # tool, an eager retry loop) makes shed answers most of the loop's work: a bound
        # lowered for that lag would only shed more. The floor keeps a share of the slots.
        self.floor = min(self.limit, max(FLOOR, self.limit // 4))

    @property
    def full(self) -> bool:
        """Whether one more request would pass the current bound."""
        return self.count >= self.bound

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start measuring the loop's lag (once per worker, on its first connection)."""
        if self.lag_target is None or self._monitor is not None:
            return
        self._monitor = loop.call_at(loop.time() + TICK, self._tick, loop, loop.time() + TICK)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        self.adjust(now - due, now)
        self._monitor = loop.call_at(now + TICK, self._tick, loop, now + TICK)

    def adjust(self, lag: float, now: float) -> None:
        """One measurement of the loop's lag, in seconds, taken at `now` (loop time)."""
        target = self.lag_target
        if target is None:
            return
        self.lag += (lag - self.lag) * _SMOOTHING
        severe = lag >= SEVERE * target
        if now - self._adjusted_at < ADJUST_EVERY and not severe:
            return
        if severe or self.lag > target:
            factor = _DECREASE_MOST if severe or self.lag >= 2 * target else _DECREASE
            self.bound = max(self.floor, int(self.bound * factor))
            self.lowest = min(self.lowest, self.bound)
            self._adjusted_at = now
            _publish(self.bound)
        elif self.lag < target / 2 and self.limit > self.bound <= self.count:
            self.bound += 1
            self._adjusted_at = now
            _publish(self.bound)

    def admitted(self, app: ASGIApp) -> ASGIApp:
        """The app, for a request that takes one of the slots until it is finished."""
        self.count += 1

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                self.count -= 1

        return counted

    def counted_shed(self, method: str) -> None:
        """Count one shed answer; a summary line every 10 s at most."""
        from service.telemetry.http import record_shed_request

        record_shed_request(method)
        self.shed += 1
        now = time.monotonic()
        # A line per shed answer would cost more than the answer.
        if now - self.summary_at >= _SHED_SUMMARY_SECONDS:
            log.warning(
                "requests_shed",
                shed=self.shed,
                in_flight=self.count,
                bound=self.bound,
                lowest_bound=self.lowest,
                limit=self.limit,
            )
            self.shed = 0
            self.lowest = self.bound
            self.summary_at = now


def _publish(bound: int) -> None:
    from service.telemetry import metrics

    metrics.IN_FLIGHT_BOUND.set(bound)
