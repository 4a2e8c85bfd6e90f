"""The drills file a pod's workers share: one writer at a time, read by all, never half-read."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from service.drills.errors import DrillActiveError
from service.drills.model import Drill, DrillKind, DrillRequest
from service.drills.store import ActiveDrills, DrillStore

ERROR = DrillRequest(kind=DrillKind.ERROR, duration_seconds=60)


class _SlowReader(DrillStore):
    """A store whose read-modify-write takes long enough for others to interleave without a lock."""

    def running(self, now: float) -> tuple[Drill, ...]:
        drills = super().running(now)
        time.sleep(0.3)
        return drills


def _start_at(directory: str, moment: float) -> str:
    """In another process: start an error drill at `moment`; the outcome's name."""
    time.sleep(max(0.0, moment - time.time()))
    try:
        _SlowReader(Path(directory)).start(ERROR, time.time())
    except DrillActiveError:
        return "refused"
    return "started"


def test_workers_starting_the_same_kind_at_once_start_one_drill(tmp_path: Path) -> None:
    # Separate processes, as gunicorn's workers are: the file lock, not a thread lock, decides.
    context = multiprocessing.get_context("spawn")
    moment = time.time() + 3
    with context.Pool(4) as pool:
        outcomes = pool.starmap(_start_at, [(str(tmp_path), moment)] * 4)
    assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
    assert len(DrillStore(tmp_path).running(time.time())) == 1


def test_another_workers_drill_is_seen_within_a_second(tmp_path: Path) -> None:
    writer, reader = ActiveDrills(DrillStore(tmp_path)), ActiveDrills(DrillStore(tmp_path))
    assert reader.in_force() == ()
    drill = writer.start(ERROR)
    assert writer.in_force() == (drill,), "the worker that started it applies it at once"
    deadline = time.monotonic() + 1.5
    while reader.in_force() == () and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.in_force() == (drill,)
    writer.end(drill.id)
    deadline = time.monotonic() + 1.5
    while reader.in_force() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.in_force() == ()


def test_a_drill_ends_at_its_time_without_anyone_rewriting_the_file(tmp_path: Path) -> None:
    drills = ActiveDrills(DrillStore(tmp_path))
    drills.start(DrillRequest(kind=DrillKind.ERROR, duration_seconds=1))
    assert len(drills.in_force()) == 1
    time.sleep(1.05)
    assert drills.in_force() == ()


@pytest.mark.parametrize("content", ["{not json", '[{"kind": "chaos"}]', "42", "[1]"])
def test_an_unreadable_file_injects_nothing_and_a_new_drill_replaces_it(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "drills.json").write_text(content)
    store = DrillStore(tmp_path)
    assert store.read() == ()
    assert ActiveDrills(store).in_force() == ()
    drill = store.start(ERROR, time.time())
    assert json.loads((tmp_path / "drills.json").read_text())[0]["id"] == drill.id


def test_the_file_holds_only_running_drills_after_a_write(tmp_path: Path) -> None:
    store = DrillStore(tmp_path)
    now = time.time()
    store.start(DrillRequest(kind=DrillKind.ERROR, duration_seconds=1), now - 5)
    store.start(DrillRequest(kind=DrillKind.READINESS, duration_seconds=60), now)
    stored = json.loads((tmp_path / "drills.json").read_text())
    assert [entry["kind"] for entry in stored] == ["readiness"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["drills.json", "drills.lock"]
