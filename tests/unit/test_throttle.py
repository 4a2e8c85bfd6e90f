"""Failure windows: their back-off, their limit and their RateLimit fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.core.throttle import BACKOFF_MAX_SECONDS, FailureWindow

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WINDOW = FailureWindow("login", limit=4, window=timedelta(minutes=15), free=2)


def _ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def test_below_the_free_failures_nothing_waits() -> None:
    assert WINDOW.retry_after([], NOW) == 0
    assert WINDOW.retry_after(_ago(0), NOW) == 0


def test_the_backoff_doubles_from_the_newest_failure_and_is_capped() -> None:
    assert WINDOW.retry_after(_ago(0, 100), NOW) == 1
    assert WINDOW.retry_after(_ago(0.5, 1, 100), NOW) == 2  # 2 s after the newest, 1.5 s left
    assert WINDOW.retry_after(_ago(3, 100, 200), NOW) == 0  # the 2 s have passed
    many = FailureWindow("x", limit=100, window=timedelta(minutes=15), free=1)
    assert many.retry_after(_ago(*range(0, 50)), NOW) == BACKOFF_MAX_SECONDS


def test_at_the_limit_the_oldest_counted_failure_decides() -> None:
    failures = _ago(400, 500, 600, 800)  # newest first; the back-off (4 s) has passed
    assert WINDOW.retry_after(failures, NOW) == 900 - 800
    assert WINDOW.remaining(failures) == 0
    assert WINDOW.reset_after(failures, NOW) == 100


def test_the_fields_follow_the_draft_syntax() -> None:
    assert WINDOW.describe() == '"login";q=4;w=900'
    assert WINDOW.state(_ago(60), NOW) == '"login";r=3;t=840'
    assert WINDOW.state([], NOW) == '"login";r=4;t=0'
