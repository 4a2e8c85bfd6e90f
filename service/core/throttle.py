"""Failure windows with exponential back-off, the throttle of failed logins.

A failure window is a sliding window over the times of recorded failures (stored by
the caller, e.g. failed logins): at most `limit` failures within `window`, and after
`free` of them every further attempt waits a doubling back-off after the newest one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


@dataclass(frozen=True)
class FailureWindow:
    """At most `limit` failures per `window`; from the `free`-th on, a doubling back-off."""

    name: str
    limit: int
    window: timedelta
    free: int

    def retry_after(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds until one more attempt is allowed (0: now), given the failures newest first.

        `failures` are those after `now - window`, at most `limit` of them.
        """
        waits = [0]
        if len(failures) >= self.limit:
            # The limit lifts when the oldest counted failure leaves the window.
            waits.append(_seconds_until(failures[self.limit - 1] + self.window, now))
        if len(failures) >= self.free:
            steps = len(failures) - self.free
            backoff = min(BACKOFF_BASE_SECONDS * 2.0**steps, BACKOFF_MAX_SECONDS)
            lifted = failures[0] + timedelta(seconds=backoff)
            if lifted > now:
                waits.append(_seconds_until(lifted, now))
        return max(waits)

    def remaining(self, failures: Sequence[datetime]) -> int:
        """Failures still allowed within the window."""
        return max(0, self.limit - len(failures))

    def reset_after(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds until the oldest counted failure leaves the window (0: none counted)."""
        return _seconds_until(failures[-1] + self.window, now) if failures else 0

    def describe(self) -> str:
        """The policy as an item of a `RateLimit-Policy` field (IETF httpapi draft)."""
        return f'"{self.name}";q={self.limit};w={int(self.window.total_seconds())}'

    def state(self, failures: Sequence[datetime], now: datetime) -> str:
        """The state as an item of a `RateLimit` field: remaining quota and seconds to reset."""
        remaining, reset = self.remaining(failures), self.reset_after(failures, now)
        return f'"{self.name}";r={remaining};t={reset}'
