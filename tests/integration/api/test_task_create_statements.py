"""POST /tasks: the caller's checks and the insert are one statement; the answers stay.

The INSERT takes its row from a SELECT of the token's owner, kept only while it holds
the token's version, so a created task costs one statement and a gone or revoked
caller inserts nothing (a second statement gives the same 401 as before). A POST with
an Idempotency-Key still checks the caller first: a revoked token never replays.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.session import WriteSession
from service.domains.tasks.models import IdempotencyKey, Task
from tests.integration.api.helpers import LoggedIn, counted_statements, remove_user, revoke_tokens
from tests.support.problems import assert_problem


async def _post(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, key: str | None = None
) -> httpx.Response:
    headers = user.headers if key is None else {**user.headers, "Idempotency-Key": key}
    body: dict[str, Any] = {"title": "new", "priority": "high", "due_at": "2030-01-02T03:04:05Z"}
    return await client.post(app.url_path_for("createTask"), json=body, headers=headers)


async def _count(session: WriteSession, model: type[Task | IdempotencyKey]) -> int:
    counted = (await session.execute(select(func.count()).select_from(model))).scalar_one()
    await session.commit()
    return int(counted)


async def test_a_created_task_is_one_statement(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn
) -> None:
    with counted_statements(engine) as statements:
        response = await _post(client, app, alice)
    assert response.status_code == 201, response.text
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("INSERT")
    assert "app_user" in statements[0] and "token_version" in statements[0]
    created = response.json()
    assert (created["title"], created["priority"], created["version"]) == ("new", "high", 1)
    assert created["created_at"] == created["updated_at"]
    assert response.headers["ETag"].endswith('-v1"')
    read = await client.get(response.headers["Location"], headers=alice.headers)
    assert read.status_code == 200 and read.json() == created


async def test_a_revoked_token_is_401_in_two_statements_and_creates_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    alice: LoggedIn,
    db_session: WriteSession,
) -> None:
    await revoke_tokens(db_session, alice)
    with counted_statements(engine) as statements:
        response = await _post(client, app, alice)
    body = assert_problem(response, 401, "invalid_token")
    assert "revoked" in body["detail"]
    assert len(statements) <= 2, statements
    assert await _count(db_session, Task) == 0


async def test_a_gone_user_is_401_and_creates_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    await remove_user(db_session, alice)
    body = assert_problem(await _post(client, app, alice), 401, "invalid_token")
    assert "no existing user" in body["detail"]
    assert await _count(db_session, Task) == 0


async def test_a_revoked_token_never_replays_a_keyed_create(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    first = await _post(client, app, alice, key="k-1")
    assert first.status_code == 201, first.text
    await revoke_tokens(db_session, alice)
    assert_problem(await _post(client, app, alice, key="k-1"), 401, "invalid_token")
    assert_problem(await _post(client, app, alice, key="k-2"), 401, "invalid_token")
    assert await _count(db_session, Task) == 1
    assert await _count(db_session, IdempotencyKey) == 1
