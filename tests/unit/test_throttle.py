"""The per-process throttle of housekeeping."""

from __future__ import annotations

import time

import pytest

from service.core.throttle import Throttle


def test_the_first_call_is_due_and_the_next_waits_for_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    every_minute = Throttle(60)
    assert every_minute.due()
    clock[0] += 59.9
    assert not every_minute.due()
    clock[0] += 0.1
    assert every_minute.due()
    clock[0] += 1
    assert not every_minute.due(), "a yes starts a new interval"


def test_each_throttle_keeps_its_own_interval() -> None:
    purge, housekeeping = Throttle(3600), Throttle(3600)
    assert purge.due()
    assert housekeeping.due()
    assert not purge.due()
