"""The upgrade drill: a rollout across a migration and its rollback, under load, with no failure.

What `helm upgrade` and `helm rollback` do, played out with real processes on one
PostgreSQL database:

1. release N serves (2 workers) behind the endpoints, users keep creating,
   reading, updating and listing tasks;
2. the pre-upgrade hook: release N+1's `tasks-api migrate` applies an expand-only
   migration while N serves; N must stay ready on the newer schema;
3. N+1 starts and becomes ready; N gets SIGTERM, leaves the endpoints and drains;
4. the rollback: N starts again on the N+1 schema and becomes ready; N+1 drains.

Zero failed requests in the whole run; every server's /readyz answers 200 from its
first success until its own SIGTERM; what N+1 wrote, N reads; every task a client
was told was created is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.resilience.api import rows
from tests.rollout.expand_migration import DRILL_COLUMN, DRILL_REVISION, DRILL_TABLE
from tests.rollout.releases import next_release, production_env
from tests.rollout.traffic import Clients, Endpoints, sign_up
from tests.support.server import ServiceProcess, run_command, running_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DRAIN_DELAY_SECONDS = 2.0
USERS = 4


def release_env(database_url: URL) -> dict[str, str]:
    """The settings both releases run with, as the chart renders them (production)."""
    return production_env(
        database_url,
        WEB_CONCURRENCY="2",
        DB_POOL_SIZE="4",
        DB_MAX_OVERFLOW="4",
        DB_STATEMENT_TIMEOUT_MS="5000",
        DRAIN_DELAY_SECONDS=str(DRAIN_DELAY_SECONDS),
        GRACEFUL_TIMEOUT_SECONDS="10",
        MAX_REQUESTS="0",
    )


def migrate_with(release: Path | None, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tasks-api migrate` of a release tree (None: this tree), as the hook Job runs it."""
    return run_command("migrate", env=env, cwd=release)


class Releases:
    """Starts and stops servers of the drill, each in its own thread-safe way."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self._stack = contextlib.ExitStack()

    def _start(self, name: str, release: Path | None) -> ServiceProcess:
        logs = self.workdir / name
        logs.mkdir()
        # The release tree is the working directory, so that its `service` is imported.
        return self._stack.enter_context(running_service(self.env, cwd=release or logs, wait=False))

    async def start(self, name: str, release: Path | None) -> ServiceProcess:
        """Start a release's server (not yet waiting for readiness)."""
        return await asyncio.to_thread(self._start, name, release)

    def close(self) -> None:
        """Stop whatever is still running."""
        self._stack.close()


@pytest.fixture
def drill_env(fresh_database: URL) -> dict[str, str]:
    """Settings of both releases, on a database migrated to this tree's head (release N)."""
    env = release_env(fresh_database)
    migrated = migrate_with(None, env)
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.fixture
def releases(drill_env: dict[str, str], tmp_path: Path) -> Iterator[Releases]:
    """The servers of the drill; any still running at the end are stopped."""
    started = Releases(drill_env, tmp_path)
    try:
        yield started
    finally:
        started.close()


async def serve(endpoints: Endpoints, releases: Releases, name: str, release: Path | None) -> None:
    """Start a server, put it behind the endpoints, and wait until it receives traffic."""
    server = await releases.start(name, release)
    endpoints.add(name, server)
    await endpoints.wait_ready(name)


async def terminate(endpoints: Endpoints, name: str) -> int:
    """SIGTERM a server as the kubelet does; wait until it left the endpoints and exited."""
    backend = endpoints.backends[name]
    backend.terminated_at = time.monotonic()
    stopping = asyncio.create_task(asyncio.to_thread(backend.server.stop))
    await endpoints.wait_removed(name)
    return await stopping


async def schema_check(backend_client: httpx.AsyncClient) -> str:
    """What a server's readiness says about the schema."""
    response = await backend_client.get("/readyz")
    assert response.status_code == 200, response.text
    state: str = response.json()["checks"]["schema"]
    return state


async def test_upgrade_across_a_migration_and_rollback_lose_no_request(
    releases: Releases, drill_env: dict[str, str], fresh_database: URL, tmp_path: Path
) -> None:
    old_head = head_revision()
    assert old_head is not None
    upgraded = next_release(tmp_path / "release-next", old_head)
    async with Endpoints() as endpoints:
        await serve(endpoints, releases, "N", None)
        users = [await sign_up(endpoints.backends["N"].client) for _ in range(USERS)]
        clients = Clients(endpoints, users)
        clients.start()
        await asyncio.sleep(2)

        # The pre-upgrade hook, while N serves.
        migrated = await asyncio.to_thread(migrate_with, upgraded, drill_env)
        assert migrated.returncode == 0, migrated.stderr
        assert f"migrated from {old_head} to {DRILL_REVISION}" in migrated.stdout
        await asyncio.sleep(1.5)
        assert "ahead" in await schema_check(endpoints.backends["N"].client)

        await serve(endpoints, releases, "N+1", upgraded)
        await asyncio.sleep(1.5)
        assert await terminate(endpoints, "N") == 0
        await asyncio.sleep(2)

        # helm rollback: the old code again, on the newer schema.
        await serve(endpoints, releases, "N again", None)
        assert "ahead" in await schema_check(endpoints.backends["N again"].client)
        await asyncio.sleep(1.5)
        assert await terminate(endpoints, "N+1") == 0
        await asyncio.sleep(1.5)
        await clients.stop()

        assert clients.failures == [], clients.failures[:20]
        assert clients.requests > 100, f"only {clients.requests} requests: the drill proves nothing"
        for name, backend in endpoints.backends.items():
            assert backend.failed_probes_before_termination() == [], (name, backend.server.logs())

        written_by_next = [task for user in users for task in user.created_by.get("N+1", [])]
        assert written_by_next, "release N+1 created no task during the drill"
        reader = endpoints.backends["N again"].client
        for user in users:
            for task_id in user.created_by.get("N+1", []):
                read = await reader.get(f"/api/v1/tasks/{task_id}", headers=user.auth)
                assert read.status_code == 200, read.text

    created = sum(len(ids) for user in users for ids in user.created_by.values())
    assert (await rows(fresh_database, "SELECT count(*) AS n FROM task"))[0]["n"] == created
    column = await rows(
        fresh_database,
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'task' AND column_name = $1",
        DRILL_COLUMN,
    )
    assert column, "the expand migration did not run"
    assert await rows(fresh_database, f"SELECT count(*) FROM {DRILL_TABLE}")  # noqa: S608
