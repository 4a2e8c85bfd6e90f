"""`migrate` and `serve` with the libpq URLs operators' Secrets hold, on real PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.support.databases import url_string
from tests.support.server import run_command, running_service

pytestmark = pytest.mark.postgres


def _libpq(url: URL, scheme: str, query: str = "") -> str:
    # What CloudNativePG's "uri" key or a Heroku-style DATABASE_URL looks like.
    text = url_string(url.set(drivername="postgresql"))
    return text.replace("postgresql://", f"{scheme}://", 1) + query


def _run(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": database_url, "DB_CONNECT_TIMEOUT_SECONDS": "3"}
    return run_command(command, env=env, timeout=90)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_migrate_then_serve_with_a_libpq_url(
    fresh_database: URL, tmp_path: Path, scheme: str
) -> None:
    url = _libpq(fresh_database, scheme, "?sslmode=disable")
    migrated = _run("migrate", url)
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from empty to {head_revision()}" in migrated.stdout
    with running_service({"DATABASE_URL": url}, cwd=tmp_path) as service:
        ready = httpx.get(f"{service.base_url}/readyz", timeout=5)
        created = httpx.post(
            f"{service.base_url}/api/v1/users",
            json={"email": f"{scheme}@example.com", "password": "a-long-password-1"},
            timeout=10,
        )
    assert ready.status_code == 200, ready.text
    assert created.status_code == 201, created.text


def test_sslmode_reaches_the_driver(fresh_database: URL) -> None:
    # verify-full needs a trusted server certificate, which the test server does not have:
    # the connection must fail rather than fall back to an unverified or plain one.
    result = _run("migrate", _libpq(fresh_database, "postgres", "?sslmode=verify-full"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ssl=verify-full" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_an_unsupported_parameter_stops_start_with_one_line(
    fresh_database: URL, command: str
) -> None:
    url = _libpq(fresh_database, "postgresql", "?sslrootcert=/etc/ca.pem")
    result = _run(command, url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "tasks-api: invalid setting DATABASE_URL: query parameter sslrootcert is not "
        "supported: set PGSSLROOTCERT to the file instead"
    ]
    assert fresh_database.password is None or fresh_database.password not in result.stderr


def test_an_unknown_scheme_stops_start_with_one_line(fresh_database: URL) -> None:
    result = _run("migrate", _libpq(fresh_database, "mysql"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tasks-api: invalid setting DATABASE_URL: use postgresql://, postgres://, "
        "postgresql+asyncpg:// or sqlite+aiosqlite:///"
    ]
