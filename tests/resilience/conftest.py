"""Fixtures of the resilience tests: a migrated database behind a test-owned proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.resilience.api import Owner, create_task, sign_up
from tests.resilience.support import resilience_settings, through
from tests.support.apps import migrated_database as new_migrated_database
from tests.support.databases import BACKEND
from tests.support.proxy import StallingProxy
from tests.support.server import ServiceProcess, running_service


@pytest.fixture(scope="package")
async def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[URL]:
    """A fresh PostgreSQL database of this package, at the head revision."""
    async with new_migrated_database(tmp_path_factory.mktemp("resilience")) as url:
        yield url


@pytest.fixture(scope="package")
def proxy() -> Iterator[StallingProxy]:
    """A proxy to the shared PostgreSQL server that the test can cut."""
    assert BACKEND.admin_url is not None
    admin = BACKEND.admin_url
    running = StallingProxy(admin.host or "127.0.0.1", admin.port or 5432)
    with running:
        yield running


@pytest.fixture(scope="package")
def proxied_service(
    migrated_database: URL, proxy: StallingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """`tasks-api serve` with two workers, reaching the database through the proxy."""
    env = resilience_settings(through(proxy, migrated_database))
    with running_service(env, cwd=tmp_path_factory.mktemp("service")) as service:
        yield service


@pytest.fixture
async def http(proxied_service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the proxied service."""
    async with httpx.AsyncClient(base_url=proxied_service.base_url, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="package")
async def owner(proxied_service: ServiceProcess) -> Owner:
    """A registered user and one of their tasks, created through the API."""
    async with httpx.AsyncClient(base_url=proxied_service.base_url, timeout=10.0) as client:
        auth = await sign_up(client)
        created = await create_task(client, auth, "survives outages")
        assert created.status_code == 201, created.text
        return Owner(auth=auth, task_id=created.json()["id"])
