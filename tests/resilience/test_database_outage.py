"""The database goes away and comes back: probes, API answers, and no restarts.

The proxy between the service and PostgreSQL refuses connections, black-holes
them (accepts, never answers), or stalls the open ones (a partition). In every
mode readiness must fail within 3 s while liveness stays 200, the API must
answer 503 problem+json in bounded time, no worker may be restarted, and once
the proxy forwards again readiness and the API must recover by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.resilience.api import Owner
from tests.resilience.support import (
    COMMAND_TIMEOUT_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    POOL_TIMEOUT_SECONDS,
    PROBLEM_JSON,
    WORKERS,
)
from tests.support.processes import children_of
from tests.support.proxy import Mode, StallingProxy
from tests.support.server import ServiceProcess

pytestmark = pytest.mark.postgres

READINESS_BOUND_SECONDS = 3.0
RECOVERY_BOUND_SECONDS = 5.0
# /readyz promises an answer within its 1 s database check; allow scheduling slack.
PROBE_ANSWER_BOUND_SECONDS = 1.5
# Probes sent together on fresh connections, so that every worker is likely asked.
PROBES_PER_ROUND = 6


def cut(proxy: StallingProxy, how: str) -> None:
    """Cut the service off from the database in one of three ways."""
    if how == "refused":
        proxy.set_mode(Mode.REFUSE)
    elif how == "blackholed":
        proxy.set_mode(Mode.BLACKHOLE)
    else:
        proxy.stall()


@pytest.fixture
async def fresh_connections(proxied_service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that opens a new connection per request (probes reach every worker)."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=proxied_service.base_url, timeout=10.0, limits=limits
    ) as client:
        yield client


async def timed_get(client: httpx.AsyncClient, path: str, limit: float) -> tuple[int, float]:
    """Status (0 when the request failed) and seconds of one GET, which may take `limit` s."""
    started = time.monotonic()
    try:
        status = (await client.get(path, timeout=limit)).status_code
    except httpx.HTTPError:
        status = 0
    return status, time.monotonic() - started


async def probe_until(
    client: httpx.AsyncClient, path: str, status: int, bound: float
) -> tuple[float, float]:
    """Send rounds of concurrent probes until a whole round answers `status`.

    Returns the seconds until then and the slowest single answer; fails when
    `bound` passes first.
    """
    started = time.monotonic()
    slowest = 0.0
    while True:
        remaining = bound - (time.monotonic() - started)
        assert remaining > 0, f"{path} did not answer {status} within {bound} s"
        answers = await asyncio.gather(
            *(timed_get(client, path, remaining) for _ in range(PROBES_PER_ROUND))
        )
        slowest = max(slowest, *(seconds for _, seconds in answers))
        if all(code == status for code, _ in answers):
            return time.monotonic() - started, slowest


@pytest.mark.parametrize(
    "how",
    [
        "refused",
        "blackholed",
        "stalled",
    ],
)
async def test_database_outage_fails_readiness_only_and_recovers(
    how: str,
    proxied_service: ServiceProcess,
    proxy: StallingProxy,
    fresh_connections: httpx.AsyncClient,
) -> None:
    master = proxied_service.process.pid
    workers = children_of(master)
    assert len(workers) == WORKERS
    await probe_until(fresh_connections, "/readyz", 200, RECOVERY_BOUND_SECONDS)

    cut(proxy, how)
    try:
        took, slowest = await probe_until(
            fresh_connections, "/readyz", 503, READINESS_BOUND_SECONDS
        )
        assert slowest < PROBE_ANSWER_BOUND_SECONDS, f"a probe took {slowest:.2f} s"
        response = await fresh_connections.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["checks"] == {"database": "unavailable", "schema": "unknown"}
        liveness = await fresh_connections.get("/healthz", timeout=1.0)
        assert liveness.status_code == 200, "liveness must not depend on the database"
        assert children_of(master) == workers, "no worker may be restarted by an outage"
    finally:
        proxy.heal()

    recovered, _ = await probe_until(fresh_connections, "/readyz", 200, RECOVERY_BOUND_SECONDS)
    assert children_of(master) == workers
    assert proxied_service.process.poll() is None
    print(f"{how}: readiness 503 after {took:.2f} s, 200 again after {recovered:.2f} s")


# Scheduling slack on a busy 2-core machine.
SLACK_SECONDS = 1.5
# How long an API call may take before its 503, by what bounds it. Refused: nothing
# waits, the pool timeout is the ceiling. Black-holed: a call waits at most the pool
# timeout for a slot, then at most the connect timeout. Stalled: the pre-ping on a
# pooled connection that went silent ends at asyncpg's command timeout, then one
# reconnect attempt (black-holed) ends at the connect timeout.
API_BOUNDS_SECONDS = {
    "refused": POOL_TIMEOUT_SECONDS + SLACK_SECONDS,
    "blackholed": POOL_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS + SLACK_SECONDS,
    "stalled": COMMAND_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS + SLACK_SECONDS,
}
# Refused and black-holed: more calls at once than one worker's pool holds (DB_POOL_SIZE
# 5 + DB_MAX_OVERFLOW 5), so that some wait for the pool. Stalled: fewer, so that no call
# queues and each one's time shows the pre-ping alone.
CONCURRENT_CALLS = {"refused": 24, "blackholed": 24, "stalled": 8}


async def timed_call(
    client: httpx.AsyncClient, method: str, path: str, owner: Owner
) -> tuple[httpx.Response | None, float]:
    """One API call with a generous client timeout: the answer (None on failure) and seconds."""
    started = time.monotonic()
    body = {"title": "written during an outage"} if method == "POST" else None
    try:
        response = await client.request(method, path, json=body, headers=owner.auth, timeout=30.0)
    except httpx.HTTPError:
        response = None
    return response, time.monotonic() - started


@pytest.mark.parametrize("how", ["refused", "blackholed", "stalled"])
async def test_api_answers_503_problem_during_outage_and_recovers(
    how: str,
    proxied_service: ServiceProcess,
    proxy: StallingProxy,
    owner: Owner,
    fresh_connections: httpx.AsyncClient,
) -> None:
    master = proxied_service.process.pid
    workers = children_of(master)
    task_path = f"/api/v1/tasks/{owner.task_id}"
    assert (await fresh_connections.get(task_path, headers=owner.auth)).status_code == 200

    cut(proxy, how)
    try:
        calls = [
            timed_call(fresh_connections, *call, owner)
            for call in [("GET", task_path), ("POST", "/api/v1/tasks"), ("GET", "/api/v1/tasks")]
            * (CONCURRENT_CALLS[how] // 3)
        ]
        answers = await asyncio.gather(*calls)
        slowest = max(seconds for _, seconds in answers)
        assert slowest < API_BOUNDS_SECONDS[how], f"an API call took {slowest:.2f} s"
        for response, _ in answers:
            assert response is not None, "the request failed instead of answering 503"
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
            assert response.headers["retry-after"].isdigit()
            assert response.json()["code"] == "database_unavailable"
        assert children_of(master) == workers, "no worker may be restarted by an outage"
    finally:
        proxy.heal()

    await probe_until(fresh_connections, "/readyz", 200, RECOVERY_BOUND_SECONDS)
    assert (await fresh_connections.get(task_path, headers=owner.auth)).status_code == 200
    created = await fresh_connections.post(
        "/api/v1/tasks", json={"title": "after the outage"}, headers=owner.auth
    )
    assert created.status_code == 201, created.text
    assert children_of(master) == workers
    print(f"{how}: {len(answers)} API calls answered 503 within {slowest:.2f} s")
