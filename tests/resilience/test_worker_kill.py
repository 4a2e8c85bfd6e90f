"""A worker SIGKILLed under write load: replaced, nothing acknowledged is lost, metrics go on.

Requests on the killed worker may fail (the client was never told 201), but every
task acknowledged with 201 must be in the database, the master must fork a new
worker, and /metrics (served by the master) must keep answering with counters
that never go backwards: a dead worker's counts stay in the multiprocess files.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.resilience.api import create_task, rows, sign_up
from tests.resilience.support import WORKERS, metric_total, resilience_settings
from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

pytestmark = pytest.mark.postgres

WRITERS = 6
LOAD_BEFORE_KILL_SECONDS = 1.0
LOAD_AFTER_REPLACEMENT_SECONDS = 1.0
REPLACEMENT_BOUND_SECONDS = 15.0
CREATE_HANDLER = {"handler": "/api/v1/tasks", "method": "POST"}


@dataclass(frozen=True)
class Scrape:
    """One read of /metrics: whether it answered, and the counters of interest."""

    ok: bool
    tasks_created: float = 0.0
    create_requests: float = 0.0


@pytest.fixture
def killable_service(
    migrated_database: URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A service of its own (one of its workers gets killed), straight on the database."""
    with running_service(
        resilience_settings(migrated_database), cwd=tmp_path_factory.mktemp("killable")
    ) as service:
        yield service


@dataclass
class Writes:
    """What the writers saw: ids answered with 201, and everything else."""

    acknowledged: list[str]
    failures: list[str]


async def writer(
    client: httpx.AsyncClient, auth: dict[str, str], number: int, stop: asyncio.Event, seen: Writes
) -> None:
    """POST tasks until told to stop; remember every 201."""
    count = 0
    while not stop.is_set():
        count += 1
        try:
            response = await create_task(client, auth, f"writer {number} task {count}")
        except httpx.HTTPError as error:
            seen.failures.append(repr(error))
            continue
        if response.status_code == 201:
            seen.acknowledged.append(response.json()["id"])
        else:
            seen.failures.append(f"{response.status_code} {response.text[:200]}")


async def scraper(metrics_url: str, stop: asyncio.Event, scrapes: list[Scrape]) -> None:
    """Read /metrics every 100 ms until told to stop."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        while not stop.is_set():
            try:
                response = await client.get(metrics_url)
                response.raise_for_status()
            except httpx.HTTPError:
                scrapes.append(Scrape(ok=False))
            else:
                text = response.text
                scrapes.append(
                    Scrape(
                        ok=True,
                        tasks_created=metric_total(text, "tasks_api_tasks_created_total"),
                        create_requests=metric_total(text, "http_requests_total", CREATE_HANDLER),
                    )
                )
            await asyncio.sleep(0.1)


def never_decreases(values: list[float]) -> bool:
    """Whether a series of counter readings is monotonic."""
    return all(later >= earlier for earlier, later in itertools.pairwise(values))


async def test_sigkilled_worker_is_replaced_and_loses_nothing_acknowledged(
    killable_service: ServiceProcess, migrated_database: URL
) -> None:
    service = killable_service
    master = service.process.pid
    workers = children_of(master)
    assert len(workers) == WORKERS
    stop_writers, stop_scraper = asyncio.Event(), asyncio.Event()
    seen = Writes(acknowledged=[], failures=[])
    acknowledged, failures = seen.acknowledged, seen.failures
    scrapes: list[Scrape] = []
    # A fresh connection per request, so that writes keep reaching both workers.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10.0, limits=limits) as client:
        auth = await sign_up(client)
        scraping = asyncio.ensure_future(scraper(service.metrics_url, stop_scraper, scrapes))
        writing = [
            asyncio.ensure_future(writer(client, auth, n, stop_writers, seen))
            for n in range(WRITERS)
        ]
        await asyncio.sleep(LOAD_BEFORE_KILL_SECONDS)
        victim = min(workers)
        acknowledged_before_kill = len(acknowledged)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        while True:
            current = children_of(master)
            if len(current) == WORKERS and victim not in current:
                break
            assert time.monotonic() - killed_at < REPLACEMENT_BOUND_SECONDS, current
            await asyncio.sleep(0.1)
        replaced_after = time.monotonic() - killed_at
        acknowledged_at_replacement = len(acknowledged)
        await asyncio.sleep(LOAD_AFTER_REPLACEMENT_SECONDS)
        stop_writers.set()
        await asyncio.gather(*writing)
        await asyncio.sleep(0.3)
        stop_scraper.set()
        await scraping

    assert service.process.poll() is None, "the master must survive a worker's death"
    assert acknowledged_before_kill > 0
    assert len(acknowledged) > acknowledged_at_replacement, "no write succeeded afterwards"
    assert not [f for f in failures if f[:3].isdigit()], f"error answers: {failures[:5]}"

    stored = await rows(
        migrated_database, "SELECT id::text FROM task WHERE id = ANY($1::uuid[])", acknowledged
    )
    assert {row["id"] for row in stored} == set(acknowledged), "an acknowledged task was lost"

    assert scrapes and all(scrape.ok for scrape in scrapes), "/metrics stopped answering"
    created = [scrape.tasks_created for scrape in scrapes]
    requests = [scrape.create_requests for scrape in scrapes]
    assert never_decreases(created), f"tasks_api_tasks_created_total went back: {created}"
    assert never_decreases(requests), f"http_requests_total went back: {requests}"
    assert created[-1] >= len(acknowledged)
    # The request counter is incremented after the response went out (it times the whole
    # exchange), so the victim may have acknowledged up to one write per writer that it
    # never counted. The domain counter is incremented before the commit: it is exact.
    assert requests[-1] >= len(acknowledged) - WRITERS
    print(
        f"{len(acknowledged)} tasks acknowledged, {len(failures)} requests failed on the kill, "
        f"worker replaced after {replaced_after:.2f} s, {len(scrapes)} scrapes"
    )
