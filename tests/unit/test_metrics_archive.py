"""The master folds exited workers' metric files into an archive: exact, bounded, race-free.

Worker files are written with prometheus_client's own writer (MmapedDict), and
read back with its own collector, so the tests hold against the real format.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client import Gauge
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from service.telemetry import metrics
from service.telemetry.prometheus import (
    ArchiveAwareCollector,
    MetricsArchive,
    encode_values,
    read_values,
)

REQUESTS = mmap_key("requests", "requests_total", ["status"], ["200"], "Requests.")
ERRORS = mmap_key("requests", "requests_total", ["status"], ["500"], "Requests.")
BUCKET = mmap_key("latency", "latency_bucket", ["le"], ["0.25"], "Latency.")
COUNT = mmap_key("latency", "latency_count", [], [], "Latency.")
IN_PROGRESS = mmap_key("inprogress", "inprogress", [], [], "In progress.")


def write(directory: Path, name: str, values: dict[str, float], timestamp: float = 0.0) -> None:
    """A worker's file, written the way prometheus_client writes it."""
    file = MmapedDict(str(directory / name))  # type: ignore[no-untyped-call]
    for key, value in values.items():
        file.write_value(key, value, timestamp)  # type: ignore[no-untyped-call]
    file.close()  # type: ignore[no-untyped-call]


def scraped(
    collector: ArchiveAwareCollector,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the collector reports, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def archive_of(directory: Path, live: Iterable[int] = ()) -> MetricsArchive:
    return MetricsArchive(directory, lambda: list(live))


def test_an_encoded_file_reads_back_with_prometheus_clients_reader(tmp_path: Path) -> None:
    entries = {REQUESTS: (3.0, 0.0), "é" * 5: (1.5, 17.0), "x" * 4: (2.0, 0.0)}
    (tmp_path / "counter_archive.db").write_bytes(encode_values(entries))
    assert {
        key: (value, ts) for key, value, ts in read_values(tmp_path / "counter_archive.db")
    } == (entries)


def test_a_dead_workers_counters_and_histograms_move_into_the_archive(tmp_path: Path) -> None:
    write(tmp_path, "counter_11.db", {REQUESTS: 5, ERRORS: 1})
    write(tmp_path, "histogram_11.db", {BUCKET: 5, COUNT: 5})
    write(tmp_path, "gauge_livesum_11.db", {IN_PROGRESS: 1})
    write(tmp_path, "counter_12.db", {REQUESTS: 7})
    collector = ArchiveAwareCollector(archive_of(tmp_path))
    before = scraped(collector)

    archive_of(tmp_path, live=[12]).retire(11)

    assert names(tmp_path) == ["counter_12.db", "counter_archive.db", "histogram_archive.db"]
    after = scraped(collector)
    # The same counts; only the dead worker's live gauge is gone.
    assert after == {key: value for key, value in before.items() if key[0] != "inprogress"}
    assert before[("inprogress", ())] == 1
    assert after[("requests_total", (("status", "200"),))] == 12
    assert after[("latency_count", ())] == 5


def test_the_archive_adds_up_every_worker_ever_retired(tmp_path: Path) -> None:
    archive = archive_of(tmp_path)
    collector = ArchiveAwareCollector(archive)
    for pid in range(100, 130):
        write(tmp_path, f"counter_{pid}.db", {REQUESTS: 2})
        write(tmp_path, f"histogram_{pid}.db", {BUCKET: 1, COUNT: 1})
        archive.retire(pid)
        assert len(names(tmp_path)) == 2
    samples = scraped(collector)
    assert samples[("requests_total", (("status", "200"),))] == 60
    assert samples[("latency_bucket", (("le", "0.25"),))] == 30
    assert samples[("latency_count", ())] == 30


def test_gauges_that_count_dead_processes_fold_by_their_mode(tmp_path: Path) -> None:
    for pid, value, stamp in ((21, 3.0, 10.0), (22, 8.0, 5.0), (23, 1.0, 20.0)):
        for mode in ("sum", "max", "min", "mostrecent"):
            write(
                tmp_path,
                f"gauge_{mode}_{pid}.db",
                {mmap_key(mode, mode, [], [], "G."): value},
                stamp,
            )
    collector = ArchiveAwareCollector(archive_of(tmp_path))
    before = scraped(collector)
    archive = archive_of(tmp_path)
    for pid in (21, 22, 23):
        archive.retire(pid)
    assert scraped(collector) == before
    assert before == {
        ("sum", ()): 12.0,
        ("max", ()): 8.0,
        ("min", ()): 1.0,
        ("mostrecent", ()): 1.0,
    }
    assert len(names(tmp_path)) == 4


def test_a_pid_that_is_live_again_is_not_folded(tmp_path: Path) -> None:
    # The pid was reused by a new worker before its files were folded: they are its own now.
    write(tmp_path, "counter_31.db", {REQUESTS: 4})
    archive_of(tmp_path, live=[31]).retire(31)
    assert names(tmp_path) == ["counter_31.db"]


def test_per_process_gauges_are_left_alone(tmp_path: Path) -> None:
    # Mode "all" labels each series with its pid: there is nothing to fold them into.
    write(tmp_path, "gauge_all_41.db", {REQUESTS: 1})
    archive_of(tmp_path).retire(41)
    assert names(tmp_path) == ["gauge_all_41.db"]


def test_a_fold_that_cannot_write_loses_nothing_and_is_retried(tmp_path: Path) -> None:
    archive = archive_of(tmp_path)
    collector = ArchiveAwareCollector(archive)
    write(tmp_path, "counter_51.db", {REQUESTS: 3})
    # The archive cannot be written (as on a full volume): a directory is in its way.
    (tmp_path / "counter_archive.partial").mkdir()
    archive.retire(51)
    assert "counter_51.db" in names(tmp_path)
    assert scraped(collector)[("requests_total", (("status", "200"),))] == 3

    (tmp_path / "counter_archive.partial").rmdir()
    write(tmp_path, "counter_52.db", {REQUESTS: 4})
    archive.retire(52)
    assert names(tmp_path) == ["counter_archive.db"]
    assert scraped(collector)[("requests_total", (("status", "200"),))] == 7


def test_scrapes_during_folds_never_see_a_count_drop_or_double(tmp_path: Path) -> None:
    archive = archive_of(tmp_path)
    collector = ArchiveAwareCollector(archive)
    retired = 80
    seen: list[float] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def scrape_until_done() -> None:
        while not done.is_set():
            try:
                seen.append(scraped(collector).get(("requests_total", (("status", "200"),)), 0))
            except BaseException as error:  # any failure of a scrape is the finding
                errors.append(error)
                return

    for pid in range(1, retired + 1):
        write(tmp_path, f"counter_{pid}.db", {REQUESTS: 1})
    scraper = threading.Thread(target=scrape_until_done)
    scraper.start()
    try:
        for pid in range(1, retired + 1):
            archive.retire(pid)
            # Each fold waits for a scrape after it, so that the scrapes interleave with
            # the folds however the threads are scheduled (without this, on a fast
            # machine the folds could all end within the scraper's first scrapes).
            scrapes = len(seen)
            deadline = time.monotonic() + 10
            while len(seen) == scrapes and not errors and time.monotonic() < deadline:
                time.sleep(0.0005)
    finally:
        done.set()
        scraper.join(30)
    assert errors == []
    assert len(seen) > retired, "a scrape ran after every fold"
    assert all(value == retired for value in seen), sorted(set(seen))
    assert names(tmp_path) == ["counter_archive.db"]


@pytest.mark.parametrize(
    "gauge",
    [value for value in vars(metrics).values() if isinstance(value, Gauge)],
    ids=lambda gauge: gauge._name,
)
def test_every_gauge_of_the_service_is_live_or_foldable(gauge: Gauge) -> None:
    # A gauge of mode "all" would keep one file per exited worker forever.
    assert gauge._multiprocess_mode.startswith("live") or gauge._multiprocess_mode in {
        "sum",
        "max",
        "min",
        "mostrecent",
    }


def test_a_file_that_a_starting_worker_has_just_created_does_not_fail_the_scrape(
    tmp_path: Path,
) -> None:
    write(tmp_path, "counter_61.db", {REQUESTS: 2})
    # prometheus_client creates a worker's file empty, then sizes it.
    (tmp_path / "counter_62.db").touch()
    samples = scraped(ArchiveAwareCollector(archive_of(tmp_path)))
    assert samples[("requests_total", (("status", "200"),))] == 2
