"""Fixtures of the live observability tests: a migrated PostgreSQL database, a proxy to it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import URL

from tests.observability.conftest import find_tool
from tests.support.databases import (
    BACKEND,
    create_postgres_database,
    drop_postgres_database,
    url_string,
)
from tests.support.proxy import TcpProxy
from tests.support.server import service_env


@pytest.fixture(scope="session")
async def migrated_database() -> AsyncIterator[URL]:
    """A fresh PostgreSQL database of the live tests, migrated by `tasks-api migrate`."""
    if not BACKEND.is_postgres or BACKEND.admin_url is None:
        pytest.skip(f"needs PostgreSQL; {BACKEND.reason}")
    url = await create_postgres_database(BACKEND.admin_url, prefix="tasks_api_live")
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        "migrate",
        env=service_env({"DATABASE_URL": url_string(url)}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(migrate.communicate(), timeout=120)
    assert migrate.returncode == 0, output.decode(errors="replace")
    yield url
    await drop_postgres_database(BACKEND.admin_url, url)


@pytest.fixture(scope="session")
def database_proxy(migrated_database: URL) -> Iterator[TcpProxy]:
    """A TCP proxy in front of that database, to cut it off on demand."""
    assert migrated_database.host and migrated_database.port
    with TcpProxy(migrated_database.host, migrated_database.port) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def proxied_url(migrated_database: URL, database_proxy: TcpProxy) -> str:
    """DATABASE_URL of the service, through the proxy."""
    return url_string(migrated_database.set(host="127.0.0.1", port=database_proxy.port))


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Path of the prometheus binary (Debian package)."""
    return find_tool("prometheus")
