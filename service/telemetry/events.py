"""Business events the domains report; telemetry turns them into metrics.

Domains call these functions and nothing else from telemetry, so the metric
backend can change without touching business code.
"""

from __future__ import annotations

from service.telemetry import metrics


def task_created() -> None:
    """A task was created (not a replay)."""
    metrics.TASKS_CREATED.inc()


def login_failed() -> None:
    """A login attempt failed (unknown user, wrong password, or rate limited)."""
    metrics.LOGINS_FAILED.inc()


def idempotent_replay() -> None:
    """A POST was answered from a stored idempotent response."""
    metrics.IDEMPOTENT_REPLAYS.inc()
