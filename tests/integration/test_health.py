"""/healthz and /readyz over HTTP, against the app on the test database."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import URL

from service.config import Settings
from service.db.engine import create_engine
from service.db.migrate import (
    SchemaState,
    head_revision,
    known_revisions,
    migrate,
    schema_state,
)
from service.state import app_state
from service.version import VERSION
from tests.support.apps import make_settings, new_app, serving
from tests.support.problems import assert_problem


async def test_healthz_reports_ok_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": VERSION}


async def test_readyz_is_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


async def test_readyz_503_names_schema_when_database_is_behind(fresh_database: URL) -> None:
    async with serving(new_app(make_settings(fresh_database))) as http:
        response = await http.get("/readyz")
        healthz = await http.get("/healthz")
    body = assert_problem(response, 503, "not_ready")
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == f"behind: database at empty, code at {head_revision()}"
    assert healthz.status_code == 200, "liveness does not depend on the database"


async def test_readyz_503_when_database_unreachable() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    async with serving(new_app(make_settings(url, db_connect_timeout_seconds=0.5))) as http:
        response = await http.get("/readyz")
        healthz = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "schema": "unknown"}
    assert healthz.status_code == 200


async def test_readyz_503_from_the_moment_shutdown_begins(settings: Settings) -> None:
    app = new_app(settings)
    shutdown = app_state(app).shutdown
    async with serving(app) as http:
        assert (await http.get("/readyz")).status_code == 200
        shutdown.begin()
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"shutdown": "draining"}
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probe_wrong_method_is_405(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def _stamp(url: URL, revision: str) -> None:
    """Set the database's Alembic revision by hand, as another release would leave it."""
    engine = create_engine(make_settings(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :rev"), {"rev": revision}
            )
    finally:
        await engine.dispose()


def _schema_gauge(state: str) -> float | None:
    return REGISTRY.get_sample_value("tasks_api_schema_state", {"state": state})


async def test_readyz_stays_ready_when_a_newer_release_migrated_the_schema(
    fresh_database: URL, capfd: pytest.CaptureFixture[str]
) -> None:
    await migrate(make_settings(fresh_database))
    await _stamp(fresh_database, "0099_from_a_newer_release")
    app = new_app(make_settings(fresh_database))
    capfd.readouterr()
    async with serving(app) as http:
        first = await http.get("/readyz")
        second = await http.get("/readyz")
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["checks"] == {
        "database": "ok",
        "schema": f"ahead: database at 0099_from_a_newer_release, newer than this code's "
        f"{head_revision()}",
    }
    warnings = [
        json.loads(line)
        for line in capfd.readouterr().out.splitlines()
        if '"schema_ahead_of_code"' in line
    ]
    # Once per process and pair of revisions (the start-up check, then two probes).
    assert len(warnings) == 1, warnings
    assert warnings[0]["database_revision"] == "0099_from_a_newer_release"
    assert warnings[0]["code_revision"] == head_revision()
    assert warnings[0]["level"] == "warning"
    assert _schema_gauge("ahead") == 1
    assert _schema_gauge("at_head") == _schema_gauge("behind") == 0


async def test_readyz_503_when_the_schema_is_at_an_older_revision(fresh_database: URL) -> None:
    await migrate(make_settings(fresh_database))
    await _stamp(fresh_database, "0002")
    async with serving(new_app(make_settings(fresh_database))) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert (
        response.json()["checks"]["schema"]
        == f"behind: database at 0002, code at {head_revision()}"
    )
    assert _schema_gauge("behind") == 1
    assert _schema_gauge("ahead") == _schema_gauge("at_head") == 0


async def test_schema_state_is_unknown_while_the_database_is_unreachable() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    async with serving(new_app(make_settings(url, db_connect_timeout_seconds=0.5))) as http:
        assert (await http.get("/readyz")).status_code == 503
    assert _schema_gauge("unknown") == 1
    assert _schema_gauge("at_head") == _schema_gauge("ahead") == 0


def test_schema_state_classifies_revisions() -> None:
    head = head_revision()
    older = sorted(known_revisions() - {head})
    assert head is not None and older, "needs at least two migrations"
    assert schema_state(head) is SchemaState.AT_HEAD
    assert {schema_state(revision) for revision in older} == {SchemaState.BEHIND}
    assert schema_state(None) is SchemaState.BEHIND
    assert schema_state("f00d_not_in_these_scripts") is SchemaState.AHEAD
