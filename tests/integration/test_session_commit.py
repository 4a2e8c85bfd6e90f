"""The request's session commits before the response: a failed commit is not a 2xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import URL

from service.app import create_app
from service.core.lifecycle import ShutdownState
from service.db.engine import DbSession
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def http(fresh_database: URL) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a database with a table whose uniqueness is checked only at COMMIT."""
    connection = await asyncpg.connect(_dsn(fresh_database))
    try:
        await connection.execute(
            "CREATE TABLE note (id int NOT NULL, "
            "CONSTRAINT uq_note_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    finally:
        await connection.close()
    app = create_app(make_settings(fresh_database), shutdown=ShutdownState())

    @app.post("/test/notes/{note_id}", status_code=201)
    async def add_note(note_id: int, session: DbSession) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        return {"id": note_id}

    @app.post("/test/notes/{note_id}/fail", status_code=201)
    async def add_then_fail(note_id: int, session: DbSession) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        raise ValueError("the endpoint failed after writing")

    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _count(url: URL) -> int:
    connection = await asyncpg.connect(_dsn(url))
    try:
        value = await connection.fetchval("SELECT count(*) FROM note")
    finally:
        await connection.close()
    return int(value)


async def test_successful_write_is_committed_before_201(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    response = await http.post("/test/notes/1")
    assert response.status_code == 201
    assert await _count(fresh_database) == 1


async def test_failed_commit_turns_into_an_error_response(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    assert (await http.post("/test/notes/7")).status_code == 201
    duplicate = await http.post("/test/notes/7")
    assert duplicate.status_code == 500, "the commit failed, so the client must not see 201"
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert await _count(fresh_database) == 1


async def test_endpoint_error_rolls_back_its_writes(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    response = await http.post("/test/notes/9/fail")
    assert response.status_code == 500
    assert await _count(fresh_database) == 0
