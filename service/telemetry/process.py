"""The standard process metrics of a pod: the gunicorn master and its workers as one.

prometheus_client's own process collector sees one process, and in multiprocess
mode none at all. The master reads itself and its live workers from /proc and
reports them under the client's standard names (`process_cpu_seconds_total`,
`process_resident_memory_bytes`, `process_open_fds`, ...), without a `pid`
label, so that a recycled worker creates no new series:

- CPU adds the CPU of the workers that already exited and were reaped (the
  master's RUSAGE_CHILDREN), so the counter never drops on a recycle;
- memory, virtual memory and open fds are sums over the live processes
  (resident memory counts a page shared after fork once per process: the
  kubelet's working set is the container's, this is the processes' view);
- start time and the fd limit are the master's: the pod's server started then.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessStats:
    """What /proc says about one process."""

    cpu_seconds: float
    resident_bytes: int
    virtual_bytes: int
    start_time_seconds: float
    open_fds: int


def _boot_time(proc: Path) -> float:
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def read_process_stats(pid: int, proc: Path = _PROC) -> ProcessStats | None:
    """One process's CPU, memory, start time and open fds from /proc, or None if it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        open_fds = len(os.listdir(proc / str(pid) / "fd"))
        boot = _boot_time(proc)
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessStats(
        cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,
        resident_bytes=int(fields[21]) * os.sysconf("SC_PAGE_SIZE"),
        virtual_bytes=int(fields[20]),
        start_time_seconds=boot + int(fields[19]) / ticks,
        open_fds=open_fds,
    )


def _max_fds() -> float:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return float(soft)


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class PodProcessCollector(Collector):
    """process_* of the master (this process) and its live workers, summed."""

    def __init__(
        self,
        worker_pids: Callable[[], Iterable[int]],
        proc: Path = _PROC,
        reaped_cpu: Callable[[], float] = _reaped_children_cpu,
    ) -> None:
        self._worker_pids = worker_pids
        self._proc = proc
        self._reaped_cpu = reaped_cpu
        self._lock = threading.Lock()
        self._last_cpu = 0.0

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        # Reaped CPU first: a worker reaped after this read is still in /proc below
        # (or missing from both, a dip that the clamp hides), never counted twice.
        reaped = self._reaped_cpu()
        master_pid = os.getpid()
        master = read_process_stats(master_pid, self._proc)
        workers = [
            stats
            for pid in sorted(set(self._worker_pids()) - {master_pid})
            if (stats := read_process_stats(pid, self._proc)) is not None
        ]
        processes = [stats for stats in (master, *workers) if stats is not None]
        with self._lock:
            self._last_cpu = max(self._last_cpu, reaped + sum(p.cpu_seconds for p in processes))
            cpu_seconds = self._last_cpu
        yield CounterMetricFamily(
            "process_cpu_seconds",
            "Total user and system CPU time of the master and all its workers, in seconds.",
            value=cpu_seconds,
        )
        gauges = (
            (
                "process_resident_memory_bytes",
                "Resident memory",
                sum(p.resident_bytes for p in processes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory",
                sum(p.virtual_bytes for p in processes),
            ),
            ("process_open_fds", "Open file descriptors", sum(p.open_fds for p in processes)),
        )
        for name, what, value in gauges:
            yield GaugeMetricFamily(
                name, f"{what} of the master and its live workers, summed.", value=value
            )
        yield GaugeMetricFamily(
            "process_max_fds",
            "Maximum number of open file descriptors per process.",
            value=_max_fds(),
        )
        if master is not None:
            yield GaugeMetricFamily(
                "process_start_time_seconds",
                "Start time of the server (the gunicorn master) since the Unix epoch, in seconds.",
                value=master.start_time_seconds,
            )
