"""The gunicorn master's side of Prometheus: /metrics on METRICS_PORT, worker bookkeeping.

Workers write their metric values to files in PROMETHEUS_MULTIPROC_DIR; the
master serves the merge of all files (MultiProcessCollector) from a small
HTTP server thread on METRICS_PORT, which the app port never exposes. The
master adds the pod's standard process metrics, of itself and its workers
(service.telemetry.process), since each process can only measure itself.

When a worker exits, the master folds its counter and histogram files into
one archive file per kind (`counter_archive.db`, ...), so that the directory
holds the files of the live processes plus a fixed few, however often workers
are recycled, while every count of the dead workers stays in the sums.

Nothing here creates metric values: this module runs in the master, and a
value created there would be a file of the master's pid (a live readiness
gauge of 0 that no worker could ever raise).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, PlatformCollector, start_http_server
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import Collector

from service.telemetry.process import PodProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Where a file name holds the pid: `counter_archive.db` sorts with the others.
ARCHIVE_NAME = "archive"

log = structlog.get_logger("service.metrics")


def multiprocess_dir() -> Path:
    """The directory the workers write their metric files to."""
    return Path(os.environ[MULTIPROC_ENV])


Value = tuple[float, float]  # (value, timestamp), as a multiprocess file stores it


def _add(old: Value, new: Value) -> Value:
    return old[0] + new[0], 0.0


def _most_recent(old: Value, new: Value) -> Value:
    return new if new[1] >= old[1] else old


# How the values of several processes combine, by file kind: as the collector
# combines them, so that the archive adds up to what the files did. Gauges
# of the live* modes are not here (a dead process's live gauge is deleted);
# nor is mode "all", whose series are labelled by pid and cannot be folded.
_FOLDS: dict[str, Callable[[Value, Value], Value]] = {
    "counter": _add,
    "histogram": _add,  # bucket values are stored per bucket, not cumulated
    "summary": _add,
    "gauge_sum": _add,
    "gauge_max": max,
    "gauge_min": min,
    "gauge_mostrecent": _most_recent,
}


def read_values(path: Path) -> Iterator[tuple[str, float, float]]:
    """(key, value, timestamp) of every entry of one multiprocess file."""
    entries = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    for key, value, timestamp, _ in entries:
        yield key, value, timestamp


def encode_values(values: Mapping[str, Value]) -> bytes:
    """A multiprocess file holding these entries, in prometheus_client's layout.

    The layout of MmapedDict: a 4-byte used length and 4 bytes of padding,
    then per entry a 4-byte key length, the UTF-8 key padded to 8-byte
    alignment, and two doubles. Written with plain file I/O rather than an
    mmap: a full volume must fail the write with an error, not kill the master.
    """
    body = bytearray()
    for key, (value, timestamp) in values.items():
        encoded = key.encode("utf-8")
        padding = b" " * (8 - (len(encoded) + 4) % 8)
        body += struct.pack("i", len(encoded)) + encoded + padding
        body += struct.pack("dd", value, timestamp)
    return struct.pack("i", 8 + len(body)) + bytes(4) + bytes(body)


class MetricsArchive:
    """Folds dead workers' files into one archive file per kind, never while a scrape reads.

    The master's metrics thread collects under `lock`, and a fold holds it
    from its first read to its last unlink, so a scrape sees every count
    exactly once: in the dead worker's file before, in the archive after.
    """

    def __init__(self, directory: Path, live_pids: Callable[[], Iterable[int]]) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.live_pids = live_pids
        # Exited workers whose files could not be folded yet (e.g. a full volume).
        self._pending: set[int] = set()

    def retire(self, pid: int) -> None:
        """A worker exited: drop its live gauges, fold its counters into the archive."""
        with self.lock:
            prometheus_multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
            self._pending.add(pid)
            # A pid that is live again (reused by a new worker) writes its file on.
            dead = self._pending - set(self.live_pids())
            try:
                for kind in _FOLDS:
                    self._fold(kind, dead)
            except OSError as error:
                log.warning("metrics_archive_failed", error=str(error), pids=sorted(dead))
                return
            self._pending -= dead

    def _fold(self, kind: str, pids: Iterable[int]) -> None:
        sources = [path for pid in pids if (path := self.directory / f"{kind}_{pid}.db").exists()]
        if not sources:
            return
        archive = self.directory / f"{kind}_{ARCHIVE_NAME}.db"
        fold = _FOLDS[kind]
        values: dict[str, Value] = {}
        for path in [archive, *sources] if archive.exists() else sources:
            for key, value, timestamp in read_values(path):
                values[key] = (
                    fold(values[key], (value, timestamp)) if key in values else (value, timestamp)
                )
        # Not *.db until complete, then renamed over the old archive. No fsync:
        # the directory is emptied at every start, so nothing outlives a crash.
        partial = self.directory / f"{kind}_{ARCHIVE_NAME}.partial"
        partial.write_bytes(encode_values(values))
        os.replace(partial, archive)
        for path in sources:
            path.unlink(missing_ok=True)


class ArchiveAwareCollector(Collector):
    """The merge of every file of the directory, read while no fold runs."""

    def __init__(self, archive: MetricsArchive) -> None:
        self._directory = archive.directory
        self._lock = archive.lock

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            # A worker that is starting creates its file empty and sizes it a
            # moment later: an empty file holds no value yet, and prometheus_client
            # would fail the whole scrape on it.
            files = [str(path) for path in self._directory.glob("*.db") if _has_header(path)]
            metrics: Iterable[Metric] = prometheus_multiprocess.MultiProcessCollector.merge(files)  # type: ignore[no-untyped-call]
            return list(metrics)


def _has_header(path: Path) -> bool:
    try:
        return path.stat().st_size >= 8
    except FileNotFoundError:  # a live gauge of a worker that just exited
        return False


def metrics_registry(
    archive: MetricsArchive, pids: Callable[[], Iterable[int]]
) -> CollectorRegistry:
    """A registry with the merge of the workers' files and the per-process collector."""
    registry = CollectorRegistry()
    registry.register(ArchiveAwareCollector(archive))
    registry.register(PodProcessCollector(pids))
    registry.register(PlatformCollector(registry=None))
    return registry


def start_metrics_server(
    host: str, port: int, archive: MetricsArchive, pids: Callable[[], Iterable[int]]
) -> WSGIServer:
    """Serve /metrics from a daemon thread of this process."""
    server, _ = start_http_server(port, addr=host, registry=metrics_registry(archive, pids))
    return server


def forget_process(pid: int) -> None:
    """A process exited: drop its live gauges (its counters and histograms stay summed)."""
    prometheus_multiprocess.mark_process_dead(pid, str(multiprocess_dir()))  # type: ignore[no-untyped-call]
