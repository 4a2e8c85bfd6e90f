"""PATCH and DELETE /tasks/{id}: the caller's checks and the write are one statement.

The UPDATE or DELETE applies only while the token's owner exists and holds the token's
version (as on every route), so a write that applies costs one statement. A write that
applies to no row costs more: the caller is checked (a gone or revoked caller is the
same 401 as before), then the task (404 when missing or another user's, else 412).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.session import WriteSession
from service.domains.tasks.models import Task
from tests.integration.api.helpers import LoggedIn, counted_statements, remove_user, revoke_tokens
from tests.support.problems import assert_problem

WRITES = ["PATCH", "DELETE"]


async def _create(client: httpx.AsyncClient, app: FastAPI, user: LoggedIn) -> tuple[str, str]:
    created = await client.post(
        app.url_path_for("createTask"), json={"title": "before"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.headers["ETag"]


async def _write(
    client: httpx.AsyncClient,
    app: FastAPI,
    method: str,
    task_id: str,
    *,
    headers: dict[str, str],
    body: dict[str, str] | None = None,
) -> httpx.Response:
    path = app.url_path_for("updateTask" if method == "PATCH" else "deleteTask", task_id=task_id)
    if method == "PATCH":
        return await client.patch(
            path, json={"title": "after"} if body is None else body, headers=headers
        )
    return await client.delete(path, headers=headers)


async def _stored(session: WriteSession, task_id: str) -> tuple[str, int] | None:
    statement = (
        select(Task.title, Task.version)
        .where(Task.id == uuid.UUID(task_id))
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(statement)).one_or_none()
    await session.commit()
    return None if row is None else (row.title, row.version)


def _checks_the_caller(statement: str) -> bool:
    return "app_user" in statement and "token_version" in statement


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("if_match", [False, True])
async def test_a_write_that_applies_is_one_statement(
    *,
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    alice: LoggedIn,
    db_session: WriteSession,
    method: str,
    if_match: bool,
) -> None:
    task_id, etag = await _create(client, app, alice)
    headers = {**alice.headers, "If-Match": etag} if if_match else alice.headers
    with counted_statements(engine) as statements:
        response = await _write(client, app, method, task_id, headers=headers)
    assert response.status_code == (200 if method == "PATCH" else 204), response.text
    assert len(statements) == 1, statements
    assert _checks_the_caller(statements[0])
    expected = ("after", 2) if method == "PATCH" else None
    assert await _stored(db_session, task_id) == expected
    if method == "PATCH":
        assert response.headers["ETag"] == etag.replace("-v1", "-v2")
        assert response.json()["title"] == "after"


async def test_an_empty_patch_is_one_statement(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn
) -> None:
    task_id, etag = await _create(client, app, alice)
    with counted_statements(engine) as statements:
        response = await _write(client, app, "PATCH", task_id, headers=alice.headers, body={})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == etag and response.json()["title"] == "before"
    assert len(statements) == 1, statements
    assert _checks_the_caller(statements[0])


@pytest.mark.parametrize("method", WRITES)
async def test_a_revoked_token_is_401_in_two_statements_and_changes_nothing(
    *,
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    alice: LoggedIn,
    db_session: WriteSession,
    method: str,
) -> None:
    task_id, etag = await _create(client, app, alice)
    await revoke_tokens(db_session, alice)
    with counted_statements(engine) as statements:
        response = await _write(
            client, app, method, task_id, headers={**alice.headers, "If-Match": etag}
        )
    body = assert_problem(response, 401, "invalid_token")
    assert "revoked" in body["detail"]
    assert len(statements) <= 2, statements
    assert await _stored(db_session, task_id) == ("before", 1)


@pytest.mark.parametrize("method", WRITES)
async def test_a_gone_user_is_401_not_404(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession, method: str
) -> None:
    task_id, _ = await _create(client, app, alice)
    await remove_user(db_session, alice)
    body = assert_problem(
        await _write(client, app, method, task_id, headers=alice.headers), 401, "invalid_token"
    )
    assert "no existing user" in body["detail"]


@pytest.mark.parametrize("method", WRITES)
async def test_another_users_task_is_404_and_unchanged(
    *,
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    bob: LoggedIn,
    db_session: WriteSession,
    method: str,
) -> None:
    task_id, etag = await _create(client, app, alice)
    for headers in (bob.headers, {**bob.headers, "If-Match": etag}):
        response = await _write(client, app, method, task_id, headers=headers)
        assert_problem(response, 404, "task_not_found")
    assert await _stored(db_session, task_id) == ("before", 1)


@pytest.mark.parametrize("method", WRITES)
async def test_a_stale_if_match_is_412_and_unchanged(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession, method: str
) -> None:
    task_id, etag = await _create(client, app, alice)
    stale = etag.replace("-v1", "-v7")
    response = await _write(
        client, app, method, task_id, headers={**alice.headers, "If-Match": stale}
    )
    assert_problem(response, 412, "precondition_failed")
    assert await _stored(db_session, task_id) == ("before", 1)


async def test_an_empty_patch_of_a_revoked_token_or_a_stale_version_keeps_its_answers(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    task_id, etag = await _create(client, app, alice)
    stale = {**alice.headers, "If-Match": etag.replace("-v1", "-v7")}
    assert_problem(
        await _write(client, app, "PATCH", task_id, headers=stale, body={}),
        412,
        "precondition_failed",
    )
    await revoke_tokens(db_session, alice)
    assert_problem(
        await _write(client, app, "PATCH", task_id, headers=alice.headers, body={}),
        401,
        "invalid_token",
    )


@pytest.mark.parametrize("method", WRITES)
async def test_too_many_if_match_tags_of_a_revoked_token_are_still_401(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession, method: str
) -> None:
    task_id, etag = await _create(client, app, alice)
    await revoke_tokens(db_session, alice)
    headers = {**alice.headers, "If-Match": ", ".join([etag] * 40)}
    assert_problem(
        await _write(client, app, method, task_id, headers=headers), 401, "invalid_token"
    )
