"""The pod's standard process metrics, and each worker's GC and event-loop lag."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from service.telemetry import metrics, runtime
from service.telemetry.process import PodProcessCollector, read_process_stats

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def fake_process(proc: Path, pid: int, *, cpu_ticks: int, rss_pages: int, fds: int) -> None:
    """A /proc entry as the kernel writes it, with a command name that has spaces."""
    (proc / str(pid) / "fd").mkdir(parents=True)
    for fd in range(fds):
        (proc / str(pid) / "fd" / str(fd)).write_text("")
    # Fields after the name: state ppid ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24).
    fields = [
        "S",
        "1",
        *["0"] * 9,
        str(cpu_ticks),
        "0",
        *["0"] * 6,
        str(5 * TICKS),
        "4096",
        str(rss_pages),
    ]
    (proc / str(pid) / "stat").write_text(f"{pid} (gunicorn: (a) b) {' '.join(fields)}\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    (tmp_path / "stat").write_text("cpu  1 2 3\nbtime 1700000000\n")
    return tmp_path


def values(families: list[Metric]) -> dict[str, float]:
    found = {}
    for family in families:
        for sample in family.samples:
            assert sample.labels == {}, "no pid or other label that churns"
            found[sample.name] = sample.value
    return found


def test_stats_of_this_process() -> None:
    stats = read_process_stats(os.getpid())
    assert stats is not None
    assert stats.cpu_seconds > 0
    assert stats.resident_bytes > 1_000_000
    assert stats.open_fds >= 3
    assert time.time() - 86_400 * 30 < stats.start_time_seconds <= time.time()


def test_stats_parse_a_command_name_with_spaces(proc: Path) -> None:
    fake_process(proc, 42, cpu_ticks=4 * TICKS, rss_pages=300, fds=7)
    stats = read_process_stats(42, proc)
    assert stats is not None
    assert stats.cpu_seconds == 4
    assert stats.resident_bytes == 300 * PAGE
    assert stats.virtual_bytes == 4096
    assert stats.open_fds == 7
    assert stats.start_time_seconds == 1_700_000_005


def test_stats_of_a_process_that_is_gone(proc: Path) -> None:
    assert read_process_stats(2**22 + 17, proc) is None


def test_the_pod_is_the_sum_of_master_and_workers_without_pids(proc: Path) -> None:
    master, worker, gone = os.getpid(), 1001, 1002
    fake_process(proc, master, cpu_ticks=2 * TICKS, rss_pages=100, fds=10)
    fake_process(proc, worker, cpu_ticks=3 * TICKS, rss_pages=50, fds=5)
    collector = PodProcessCollector(lambda: [worker, gone], proc, reaped_cpu=lambda: 1.5)
    found = values(list(collector.collect()))
    assert found["process_cpu_seconds_total"] == 2 + 3 + 1.5
    assert found["process_resident_memory_bytes"] == 150 * PAGE
    assert found["process_open_fds"] == 15
    assert found["process_start_time_seconds"] == 1_700_000_005, "the master's"
    assert found["process_max_fds"] > 0


def test_cpu_never_drops_when_a_worker_is_recycled(proc: Path) -> None:
    master, worker = os.getpid(), 1001
    fake_process(proc, master, cpu_ticks=TICKS, rss_pages=1, fds=1)
    fake_process(proc, worker, cpu_ticks=4 * TICKS, rss_pages=1, fds=1)
    reaped = [0.0]
    live = [worker]
    collector = PodProcessCollector(lambda: live, proc, reaped_cpu=lambda: reaped[0])
    before = values(list(collector.collect()))["process_cpu_seconds_total"]
    # The worker exited; a scrape between its exit and its reaping sees it nowhere.
    live.clear()
    between = values(list(collector.collect()))["process_cpu_seconds_total"]
    reaped[0] = 4.0  # reaped: its CPU is now in the master's children's usage
    after = values(list(collector.collect()))["process_cpu_seconds_total"]
    assert before == between == after == 5


def test_garbage_collections_are_counted_per_generation() -> None:
    runtime.count_garbage_collections()
    runtime.count_garbage_collections()  # once per process, not twice

    def collections(generation: str) -> float:
        value: float = runtime.GC_COLLECTIONS.labels(generation=generation)._value.get()
        return value

    before = collections("2")
    gc.collect()
    assert collections("2") == before + 1
    assert gc.callbacks.count(runtime._on_gc) == 1


def test_a_gc_callback_of_an_unknown_phase_or_generation_counts_nothing() -> None:
    before = runtime.GC_COLLECTIONS.labels(generation="0")._value.get()
    runtime._on_gc("start", {"generation": 0, "collected": 3, "uncollectable": 0})
    runtime._on_gc("stop", {"generation": 7, "collected": 3, "uncollectable": 0})
    assert runtime.GC_COLLECTIONS.labels(generation="0")._value.get() == before


def test_the_lag_window_keeps_the_worst_recent_sample() -> None:
    window = runtime.LagWindow(3)
    assert window.add(-0.001) == 0, "a timer firing early is no lag"
    assert window.add(0.5) == 0.5
    assert window.add(0.01) == 0.5
    assert window.add(0.02) == 0.5
    assert window.add(0.03) == 0.03, "the stall left the window"


async def test_a_blocked_loop_shows_as_lag() -> None:
    watcher = asyncio.get_running_loop().create_task(
        runtime.watch_event_loop(interval=0.05, window=30)
    )
    try:
        await asyncio.sleep(0.2)
        time.sleep(0.6)  # noqa: ASYNC251 - the point: block the loop
        await asyncio.sleep(0.2)
        lag = metrics.EVENT_LOOP_LAG._value.get()
    finally:
        watcher.cancel()
    # At least the block minus one sampling interval; under load it may be more.
    assert lag >= 0.5


async def test_the_watch_starts_once_and_stops() -> None:
    runtime.start_event_loop_watch()
    first = runtime._watcher
    runtime.start_event_loop_watch()
    assert runtime._watcher is first is not None
    runtime.stop_event_loop_watch()
    await asyncio.sleep(0)
    assert runtime._watcher is None
    assert first.cancelled() or first.done()
