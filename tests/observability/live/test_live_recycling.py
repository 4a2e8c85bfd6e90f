"""Worker recycling (MAX_REQUESTS) keeps the multiprocess directory bounded and the counts exact.

A real two-worker `tasks-api serve` recycles each worker after about 20
requests, dozens of times in a row. While it does, a second thread scrapes
`/metrics` and lists the multiprocess directory over and over: the request
counter may never go down nor pass what was sent, and the directory may never
hold more than the files of the live processes plus the archive. At the end
the counter equals the number of answered requests, exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.observability.live.processes import sample_sum, scrape, wait_for
from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

pytestmark = pytest.mark.slow

COUNTED = {"method": "GET", "handler": "/api/v1/users/me", "status": "401"}
REQUESTS = 700
MAX_REQUESTS = 20


@dataclass
class Watch:
    """What the watcher thread saw while the workers recycled."""

    counts: list[float] = field(default_factory=list)
    file_counts: list[int] = field(default_factory=list)
    workers: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def recycled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, Path]]:
    """Two workers on embedded SQLite, each recycled after 20 to 25 requests."""
    metrics_dir = tmp_path_factory.mktemp("metrics")
    env = {
        "WEB_CONCURRENCY": "2",
        "MAX_REQUESTS": str(MAX_REQUESTS),
        "MAX_REQUESTS_JITTER": "5",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GRACEFUL_TIMEOUT_SECONDS": "5",
    }
    with running_service(env, cwd=tmp_path_factory.mktemp("recycled")) as service:
        wait_for(lambda: len(children_of(service.process.pid)) == 2, 15, "two workers")
        yield service, metrics_dir


def _unauthenticated_call(base_url: str) -> bool:
    """One counted request on a new connection; False when no answer came (worker recycling)."""
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            response = client.get("/api/v1/users/me")
    except httpx.TransportError:
        return False
    assert response.status_code == 401, response.text
    return True


def _watch(service: ServiceProcess, metrics_dir: Path, stop: threading.Event, seen: Watch) -> None:
    while not stop.is_set():
        seen.workers |= children_of(service.process.pid)
        seen.file_counts.append(len(list(metrics_dir.iterdir())))
        try:
            seen.counts.append(
                sample_sum(scrape(service.metrics_url), "http_requests_total", **COUNTED)
            )
        except (httpx.HTTPError, ValueError) as error:
            seen.errors.append(repr(error))
        time.sleep(0.05)


def test_recycled_workers_keep_the_directory_bounded_and_the_counter_exact(
    recycled: tuple[ServiceProcess, Path],
) -> None:
    service, metrics_dir = recycled
    # Files of a live worker, and of the master, before any recycling.
    worker = min(children_of(service.process.pid))
    worker_files = list(metrics_dir.glob(f"*_{worker}.db"))
    archived_kinds = [path for path in worker_files if not path.name.startswith("gauge_live")]
    master_files = list(metrics_dir.glob(f"*_{service.process.pid}.db"))
    # Two live workers and one exited but not yet reaped, the master, and per
    # archived kind its archive (and, for a moment, the archive being written).
    bound = 3 * len(worker_files) + len(master_files) + 2 * len(archived_kinds)

    seen = Watch()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(service, metrics_dir, stop, seen))
    watcher.start()
    answered = 0
    try:
        for _ in range(REQUESTS):
            answered += _unauthenticated_call(service.base_url)
    finally:
        stop.set()
        watcher.join(30)

    final = sample_sum(scrape(service.metrics_url), "http_requests_total", **COUNTED)
    assert answered >= REQUESTS - 20, "almost every request is answered"
    assert final == answered
    assert len(seen.workers) >= 20, f"workers recycled: {len(seen.workers) - 2} times"
    assert seen.errors == []
    assert len(seen.counts) > 50, "scraped all along the recycling"
    drops = [(a, b) for a, b in zip(seen.counts, seen.counts[1:], strict=False) if b < a]
    assert drops == [], "the counter never goes down"
    assert max(seen.counts) <= answered, "nothing is counted twice"
    assert max(seen.file_counts) <= bound, (max(seen.file_counts), bound)
    assert len(list(metrics_dir.iterdir())) <= bound
    assert (metrics_dir / "counter_archive.db").exists()
