"""The request's session commits before the response: a failed commit is not a 2xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
import httpx
import pytest
from fastapi import Depends
from sqlalchemy import text
from sqlalchemy.engine import URL

from service.core.errors import AppError
from service.db.session import WriteSession
from service.dependencies import WriteSessionDep, write_session
from tests.support.apps import make_settings, new_app, serving
from tests.support.problems import assert_problem

pytestmark = pytest.mark.postgres


class RefusalError(AppError):
    """An answer that must keep what the request wrote."""

    status = 403
    code = "refused"


class ConflictError(AppError):
    """Any other error of the service: what the request wrote is rolled back."""

    status = 409
    code = "conflict"


KeptOnRefusal = Annotated[
    WriteSession, Depends(write_session(commit_on=(RefusalError,)), scope="function")
]


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
    app = new_app(make_settings(fresh_database))

    @app.post("/test/notes/{note_id}", status_code=201)
    async def add_note(note_id: int, session: WriteSessionDep) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        return {"id": note_id}

    @app.post("/test/notes/{note_id}/refused", status_code=201)
    async def add_then_refuse(note_id: int, session: KeptOnRefusal) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        raise RefusalError

    @app.post("/test/notes/{note_id}/conflict", status_code=201)
    async def add_then_conflict(note_id: int, session: KeptOnRefusal) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        raise ConflictError

    @app.post("/test/notes/{note_id}/fail", status_code=201)
    async def add_then_fail(note_id: int, session: WriteSessionDep) -> dict[str, int]:
        await session.execute(text("INSERT INTO note (id) VALUES (:id)"), {"id": note_id})
        raise ValueError("the endpoint failed after writing")

    async with serving(app, raise_app_exceptions=False) as client:
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
    assert_problem(duplicate, 500, "internal_error")
    assert await _count(fresh_database) == 1


async def test_endpoint_error_rolls_back_its_writes(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    response = await http.post("/test/notes/9/fail")
    assert response.status_code == 500
    assert await _count(fresh_database) == 0


async def test_a_session_declared_to_keep_a_refusal_commits_it(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    response = await http.post("/test/notes/3/refused")
    assert response.status_code == 403
    assert response.json()["code"] == "refused"
    assert await _count(fresh_database) == 1


async def test_that_session_still_rolls_back_any_other_error(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    response = await http.post("/test/notes/4/conflict")
    assert response.status_code == 409
    assert await _count(fresh_database) == 0


async def test_a_refusal_whose_commit_fails_is_not_answered_as_the_refusal(
    http: httpx.AsyncClient, fresh_database: URL
) -> None:
    assert (await http.post("/test/notes/5")).status_code == 201
    response = await http.post("/test/notes/5/refused")  # the deferred unique check fails
    assert response.status_code == 500
    assert await _count(fresh_database) == 1
