"""A per-process throttle for housekeeping that may run now and then, not on every request."""

from __future__ import annotations

import time


class Throttle:
    """Says yes at most once per interval in this process (the first time, at once)."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._last: float | None = None

    def due(self) -> bool:
        """Whether the interval has passed since the last yes; a yes starts a new interval."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval_seconds:
            return False
        self._last = now
        return True
