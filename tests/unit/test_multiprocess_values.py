"""Fork-aware multiprocess metric values: prometheus_client's files, told of forks by a hook."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from service.server.serving import MULTIPROC_ENV, install_fork_aware_values
from service.telemetry.multiprocess_values import fork_aware_value_class


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def fork_aware(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh fork-aware class as prometheus_client's value class, its files closed after.

    Closing also forgets its values, so that later forks (of other tests) reset none.
    """
    value_class = fork_aware_value_class()
    monkeypatch.setattr(values, "ValueClass", value_class)
    yield value_class
    value_class.close_all_files()


def _merged(directory: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for metric in registry.collect()
        for sample in metric.samples
    }


def _record(value_class: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "ValueClass", value_class)
    requests = Counter("requests", "Requests.", ("status",), registry=None)
    requests.labels(status="200").inc(3)
    requests.labels(status="500").inc()
    Histogram("duration_seconds", "Duration.", buckets=(0.1, 1.0), registry=None).observe(0.5)
    Gauge("ready", "Ready.", multiprocess_mode="livemin", registry=None).set(1)


def _in_child(action: Callable[[], None]) -> None:
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked child
        code = 0
        try:
            action()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_files_and_merge_are_those_of_prometheus_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    monkeypatch.setenv(MULTIPROC_ENV, str(ours))
    _record(fork_aware_value_class(), monkeypatch)
    values.ValueClass.close_all_files()
    monkeypatch.setenv(MULTIPROC_ENV, str(theirs))
    _record(values.MultiProcessValue(), monkeypatch)  # type: ignore[no-untyped-call]
    values.ValueClass.close_all_files()
    names = sorted(path.name for path in ours.iterdir())
    assert names == sorted(path.name for path in theirs.iterdir())
    assert names == [
        f"{kind}_{os.getpid()}.db" for kind in ("counter", "gauge_livemin", "histogram")
    ]
    assert _merged(ours) == _merged(theirs)
    assert _merged(ours)["requests_total[('status', '200')]"] == 3


@pytest.mark.usefixtures("fork_aware")
def test_a_forked_child_counts_in_its_own_file_and_no_count_is_lost(metrics_dir: Path) -> None:
    counter = Counter("forked", "Forked.", registry=None)
    counter.inc(2)

    def child_counts() -> None:
        # The child starts from zero in its own file, never from the parent's 2.
        assert counter._value.get() == 0
        counter.inc(5)

    _in_child(child_counts)
    counter.inc()
    files = sorted(path.name for path in metrics_dir.iterdir())
    assert f"counter_{os.getpid()}.db" in files
    assert len(files) == 2
    assert counter._value.get() == 3
    assert _merged(metrics_dir)["forked_total[]"] == 8


@pytest.mark.usefixtures("fork_aware")
def test_a_value_created_in_a_child_is_never_written_to_the_parents_file(metrics_dir: Path) -> None:
    Counter("parent_only", "Parent.", registry=None).inc()
    parent_file = metrics_dir / f"counter_{os.getpid()}.db"
    before = parent_file.read_bytes()
    _in_child(lambda: Counter("child_only", "Child.", registry=None).inc(7))
    assert parent_file.read_bytes() == before
    merged = _merged(metrics_dir)
    assert merged["child_only_total[]"] == 7
    assert merged["parent_only_total[]"] == 1


@pytest.mark.usefixtures("fork_aware")
def test_files_closed_by_prometheus_client_are_reopened_by_new_values(metrics_dir: Path) -> None:
    Counter("before_close", "Before.", registry=None).inc()
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
    Counter("after_close", "After.", registry=None).inc(2)
    merged = _merged(metrics_dir)
    assert merged["before_close_total[]"] == 1
    assert merged["after_close_total[]"] == 2


def test_serve_installs_the_fork_aware_values_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    install_fork_aware_values()
    installed = values.ValueClass
    assert getattr(installed, "fork_aware", False)
    install_fork_aware_values()
    assert values.ValueClass is installed
