"""Process lifecycle shared by the readiness probe and the serving layer."""

from __future__ import annotations

import time


class ShutdownState:
    """Records when shutdown began, so readiness can fail from that moment on."""

    def __init__(self) -> None:
        self.began_at: float | None = None

    @property
    def draining(self) -> bool:
        """Whether shutdown has begun."""
        return self.began_at is not None

    def begin(self) -> None:
        """Mark shutdown as begun; later calls keep the first moment."""
        if self.began_at is None:
            self.began_at = time.monotonic()


process_shutdown = ShutdownState()
