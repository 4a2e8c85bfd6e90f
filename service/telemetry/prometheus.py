"""The gunicorn master's side of Prometheus: /metrics on METRICS_PORT, worker bookkeeping.

Workers write their metric values to files in PROMETHEUS_MULTIPROC_DIR; the
master serves the merge of all files (MultiProcessCollector) from a small
HTTP server thread on METRICS_PORT, which the app port never exposes. The
master adds per-process memory and CPU of itself and its live workers, read
from /proc, since each process can only measure itself.

Nothing here creates metric values: this module runs in the master, and a
value created there would be a file of the master's pid (a live readiness
gauge of 0 that no worker could ever raise).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PROC = Path("/proc")


def multiprocess_dir() -> Path:
    """The directory the workers write their metric files to."""
    return Path(os.environ[MULTIPROC_ENV])


def read_process_stats(pid: int, proc: Path = _PROC) -> tuple[float, int] | None:
    """(CPU seconds, resident bytes) of a process from /proc, or None if it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = stat.rsplit(")", 1)[1].split()
    user_ticks, system_ticks, rss_pages = int(fields[11]), int(fields[12]), int(fields[21])
    ticks = os.sysconf("SC_CLK_TCK")
    return (user_ticks + system_ticks) / ticks, rss_pages * os.sysconf("SC_PAGE_SIZE")


class ProcessCollector(Collector):
    """Memory and CPU of the master and each live worker, labelled by pid."""

    def __init__(self, pids: Callable[[], Iterable[int]], proc: Path = _PROC) -> None:
        self._pids = pids
        self._proc = proc

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        memory = GaugeMetricFamily(
            "tasks_api_process_resident_memory_bytes",
            "Resident memory of each tasks-api process (gunicorn master and workers).",
            labels=["pid"],
        )
        cpu = CounterMetricFamily(
            "tasks_api_process_cpu_seconds",
            "CPU time (user and system) of each tasks-api process.",
            labels=["pid"],
        )
        for pid in sorted(set(self._pids())):
            stats = read_process_stats(pid, self._proc)
            if stats is None:
                continue
            cpu_seconds, resident = stats
            memory.add_metric([str(pid)], resident)
            cpu.add_metric([str(pid)], cpu_seconds)
        yield memory
        yield cpu


def metrics_registry(pids: Callable[[], Iterable[int]]) -> CollectorRegistry:
    """A registry with the merge of the workers' files and the per-process collector."""
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(ProcessCollector(pids))
    return registry


def start_metrics_server(host: str, port: int, pids: Callable[[], Iterable[int]]) -> WSGIServer:
    """Serve /metrics from a daemon thread of this process."""
    server, _ = start_http_server(port, addr=host, registry=metrics_registry(pids))
    return server


def forget_process(pid: int) -> None:
    """A process exited: drop its live gauges (its counters and histograms stay summed)."""
    prometheus_multiprocess.mark_process_dead(pid, str(multiprocess_dir()))  # type: ignore[no-untyped-call]
