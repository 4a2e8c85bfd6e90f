"""SIGTERM to the master under load: no failed request, every in-flight one completes.

Clients behave like the endpoints controller of a cluster: they stop sending new
requests once /readyz answers 503. Requests are kept in flight across the end of
the drain delay by a real lock on the task table, held by the test, so the
server must stop accepting and still finish them before it exits.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import URL

from tests.resilience.api import asyncpg_dsn, create_task, rows, sign_up
from tests.resilience.support import DRAIN_DELAY_SECONDS, resilience_settings
from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

pytestmark = pytest.mark.postgres

CLIENTS = 8
# Longer than the lock is held, so that waiting requests complete instead of timing out.
STATEMENT_TIMEOUT_MS = 10_000
# The lock outlives the drain delay by this much: requests are still in flight then.
HELD_PAST_DRAIN_SECONDS = 0.7
# Room for interpreter teardown: each process spends seconds in its final garbage
# collection on a busy 2-core machine (see "Performance" in README.md).
GRACEFUL_TIMEOUT_SECONDS = 8.0


@dataclass(frozen=True)
class Outcome:
    """One request of the load: when it ran, and its status (0 when it failed)."""

    started: float
    ended: float
    status: int
    task_id: str | None = None
    error: str | None = None


@pytest.fixture
def draining_service(
    migrated_database: URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A service of its own (the test stops it), straight on the database."""
    env = resilience_settings(
        migrated_database,
        DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
        GRACEFUL_TIMEOUT_SECONDS=str(GRACEFUL_TIMEOUT_SECONDS),
    )
    with running_service(env, cwd=tmp_path_factory.mktemp("draining")) as service:
        yield service


async def client_loop(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    task_id: str,
    stop: asyncio.Event,
    outcomes: list[Outcome],
) -> None:
    """Alternate reads and writes until the controller says stop."""
    count = 0
    while not stop.is_set():
        count += 1
        started = time.monotonic()
        try:
            if count % 2:
                response = await client.get(f"/api/v1/tasks/{task_id}", headers=auth)
            else:
                response = await create_task(client, auth, f"during shutdown {count}")
        except httpx.HTTPError as error:
            outcomes.append(Outcome(started, time.monotonic(), 0, error=repr(error)))
            continue
        created = response.json().get("id") if response.status_code == 201 else None
        outcomes.append(Outcome(started, time.monotonic(), response.status_code, created))


async def endpoint_controller(base_url: str, stop: asyncio.Event) -> float:
    """Poll /readyz on fresh connections; on the first 503, stop the clients. Returns when."""
    async with httpx.AsyncClient(
        base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)
    ) as probe:
        while True:
            try:
                status = (await probe.get("/readyz", timeout=1.0)).status_code
            except httpx.HTTPError:
                status = 0
            if status != 200:
                stop.set()
                return time.monotonic()
            await asyncio.sleep(0.05)


async def test_sigterm_under_load_fails_no_request_and_exits_in_time(
    draining_service: ServiceProcess, migrated_database: URL
) -> None:
    service = draining_service
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30.0) as client:
        auth = await sign_up(client)
        task = await create_task(client, auth, "read under shutdown")
        assert task.status_code == 201
        stop = asyncio.Event()
        outcomes: list[Outcome] = []
        controller = asyncio.ensure_future(endpoint_controller(service.base_url, stop))
        loops = [
            asyncio.ensure_future(client_loop(client, auth, task.json()["id"], stop, outcomes))
            for _ in range(CLIENTS)
        ]
        await asyncio.sleep(0.5)

        lock = await asyncpg.connect(asyncpg_dsn(migrated_database))
        transaction = lock.transaction()
        await transaction.start()
        await lock.execute("LOCK TABLE task IN ACCESS EXCLUSIVE MODE")
        await asyncio.sleep(0.2)
        workers = children_of(service.process.pid)
        sigterm_at = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        try:
            seen_at = await asyncio.wait_for(controller, 2.0)
            # A client that has not heard yet is still served during the drain delay.
            late = await client.get("/api/v1/users/me", headers=auth, timeout=5.0)
            release_at = sigterm_at + DRAIN_DELAY_SECONDS + HELD_PAST_DRAIN_SECONDS
            await asyncio.sleep(release_at - time.monotonic())
        finally:
            await transaction.rollback()
            await lock.close()
        await asyncio.gather(*loops)
        bound = DRAIN_DELAY_SECONDS + GRACEFUL_TIMEOUT_SECONDS
        code = await asyncio.to_thread(service.process.wait, bound + 5)
        exited_after = time.monotonic() - sigterm_at

    failed = [outcome for outcome in outcomes if outcome.status not in (200, 201)]
    assert not failed, f"{len(failed)} failed requests, e.g. {failed[:3]}\n{service.logs()[-3000:]}"
    drain_end = sigterm_at + DRAIN_DELAY_SECONDS
    in_flight_at_drain_end = [o for o in outcomes if o.started < drain_end < o.ended]
    assert in_flight_at_drain_end, "the test kept no request in flight past the drain delay"
    assert seen_at - sigterm_at < 1.0, "/readyz must turn 503 at once"
    assert late.status_code == 200
    assert code == 0, service.logs()[-3000:]
    assert DRAIN_DELAY_SECONDS <= exited_after < bound, f"exit after {exited_after:.2f} s"
    assert not any(pid in children_of(service.process.pid) for pid in workers)

    acknowledged = [o.task_id for o in outcomes if o.task_id is not None]
    stored = await rows(
        migrated_database, "SELECT id::text FROM task WHERE id = ANY($1::uuid[])", acknowledged
    )
    assert {row["id"] for row in stored} == set(acknowledged)
    print(
        f"{len(outcomes)} requests, {len(in_flight_at_drain_end)} in flight at the end of the "
        f"drain, readiness 503 after {seen_at - sigterm_at:.2f} s, exit after {exited_after:.2f} s"
    )
