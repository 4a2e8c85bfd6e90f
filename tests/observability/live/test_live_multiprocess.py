"""Prometheus multiprocess mode of a served tasks-api with two workers.

Runs the zero-configuration way on purpose: no PROMETHEUS_MULTIPROC_DIR (so
`serve` must set it before prometheus_client is first imported) and embedded
SQLite (so the master migrates, importing the metric definitions before it
forks).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.observability.live.processes import (
    counter_by_pid,
    file_pids,
    files_of,
    sample_sum,
    scrape,
    wait_for,
)
from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

pytestmark = pytest.mark.slow

COUNTED = {"method": "POST", "handler": "/api/v1/users", "status": "422"}


@dataclass
class Served:
    """The service under test and its multiprocess directory."""

    service: ServiceProcess
    metrics_dir: Path
    sent: int = 0

    def invalid_signups(self, count: int) -> None:
        """Requests that every worker can answer without the database (422), new connections."""
        for _ in range(count):
            with httpx.Client(base_url=self.service.base_url, timeout=10) as client:
                response = client.post("/api/v1/users", json={"email": "not-an-address"})
            assert response.status_code == 422
            self.sent += 1

    def total(self) -> float:
        """The counted requests as /metrics reports them."""
        return sample_sum(scrape(self.service.metrics_url), "http_requests_total", **COUNTED)

    def settled_total(self, timeout: float = 5.0) -> float:
        """The count once every request sent is in it (or after `timeout`).

        A worker counts a request just after its response has gone out, so the client
        may read /metrics a moment before the last increment: wait for it, then let the
        caller assert the exact value (a count above `sent` is a failure too).
        """
        deadline = time.monotonic() + timeout
        total = self.total()
        while total < self.sent and time.monotonic() < deadline:
            time.sleep(0.05)
            total = self.total()
        return total


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`tasks-api serve` with two workers on embedded SQLite."""
    workdir = tmp_path_factory.mktemp("multiprocess")
    env = {"WEB_CONCURRENCY": "2", "DRAIN_DELAY_SECONDS": "0.2", "GRACEFUL_TIMEOUT_SECONDS": "5"}
    with running_service(env, cwd=workdir) as service:
        wait_for(lambda: len(children_of(service.process.pid)) == 2, 15, "two workers")
        yield Served(service, _metrics_dir(service))


def _metrics_dir(service: ServiceProcess) -> Path:
    for line in service.logs().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == "serving":
            return Path(json.loads(line)["metrics_dir"])
    raise AssertionError(f"no serving line:\n{service.logs()}")


def test_counters_of_two_workers_are_summed(served: Served) -> None:
    workers = children_of(served.service.process.pid)
    for _ in range(15):
        served.invalid_signups(10)
        per_worker = counter_by_pid(served.metrics_dir, "http_requests_total", COUNTED)
        if all(per_worker.get(pid, 0) > 0 for pid in workers):
            break
    assert served.settled_total() == served.sent
    per_worker = counter_by_pid(served.metrics_dir, "http_requests_total", COUNTED)
    assert all(per_worker.get(pid, 0) > 0 for pid in workers), per_worker
    assert sum(per_worker.values()) == served.sent


def test_metrics_port_serves_all_workers_but_the_app_port_does_not(served: Served) -> None:
    app_port = httpx.get(f"{served.service.base_url}/metrics")
    metrics = httpx.get(served.service.metrics_url)
    assert app_port.status_code == 404
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = scrape(served.service.metrics_url)
    # The pod's standard process metrics: one series each, the processes summed.
    master = served.service.process.pid
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert [labels for labels, _ in samples[name]] == [{}], name
    one_process = resident_bytes_of(master)
    assert sample_sum(samples, "process_resident_memory_bytes") > one_process
    assert sample_sum(samples, "tasks_api_build_info") == 1


def resident_bytes_of(pid: int) -> int:
    """Resident bytes of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def test_master_holds_no_live_gauge(served: Served) -> None:
    master = served.service.process.pid
    live_gauges = [
        path for path in files_of(served.metrics_dir, master) if "gauge_live" in path.name
    ]
    samples = scrape(served.service.metrics_url)
    assert live_gauges == []
    # Each worker checked readiness at start: the minimum over live workers is 1.
    assert samples["tasks_api_readiness"] == [({}, 1.0)]


def test_a_restarted_worker_loses_no_count(served: Served) -> None:
    served.invalid_signups(5)
    before = served.settled_total()
    cpu_before = sample_sum(scrape(served.service.metrics_url), "process_cpu_seconds_total")
    master = served.service.process.pid
    old = children_of(master)
    victim = min(old)
    os.kill(victim, signal.SIGTERM)
    wait_for(lambda: victim not in children_of(master), 10, "the worker exits")
    wait_for(lambda: len(children_of(master)) == 2, 15, "gunicorn replaces the worker")
    wait_for(lambda: victim not in file_pids(served.metrics_dir, "gauge_livesum"), 5, "cleanup")
    samples = scrape(served.service.metrics_url)
    assert sample_sum(samples, "http_requests_total", **COUNTED) == before == served.sent
    # Its counts stay summed, from the archive the master folded its files into.
    assert not (served.metrics_dir / f"counter_{victim}.db").exists()
    assert (served.metrics_dir / "counter_archive.db").exists()
    assert victim not in file_pids(served.metrics_dir, "gauge_livemin")
    # The pod's CPU counter kept the exited worker's CPU: it never drops.
    assert sample_sum(samples, "process_cpu_seconds_total") >= cpu_before
    assert [labels for labels, _ in samples["process_cpu_seconds_total"]] == [{}]
    assert sample_sum(samples, "http_requests_inprogress") == 0
    served.invalid_signups(3)
    assert served.settled_total() == before + 3
