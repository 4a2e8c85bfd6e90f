"""GET /tasks/{id}: the caller's checks and the read are one statement; the answers stay.

The token's owner must exist and hold the token's version (as on every route), and
the task must be the owner's: a found task costs one statement, and only a miss
costs a second one, which tells a missing task (404) from a gone or revoked caller
(401).
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.session import WriteSession
from service.domains.users.models import User
from tests.integration.api.helpers import LoggedIn, counted_statements
from tests.support.problems import assert_problem


async def _task_path(client: httpx.AsyncClient, app: FastAPI, user: LoggedIn) -> str:
    created = await client.post(
        app.url_path_for("createTask"), json={"title": "read me"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    return app.url_path_for("getTask", task_id=created.json()["id"])


async def test_a_found_task_is_one_statement(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn
) -> None:
    path = await _task_path(client, app, alice)
    with counted_statements(engine) as statements:
        response = await client.get(path, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "read me"
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, statements
    assert "app_user" in reads[0] and "token_version" in reads[0]


async def test_another_users_task_is_404_not_401(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    path = await _task_path(client, app, alice)
    assert_problem(await client.get(path, headers=bob.headers), 404, "task_not_found")


async def test_a_revoked_token_is_401_on_a_task_that_exists(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    path = await _task_path(client, app, alice)
    await db_session.execute(
        update(User).where(User.email == alice.email).values(token_version=User.token_version + 1)
    )
    await db_session.commit()
    body = assert_problem(await client.get(path, headers=alice.headers), 401, "invalid_token")
    assert "revoked" in body["detail"]


async def test_a_gone_user_is_401_not_404(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    path = await _task_path(client, app, alice)
    await db_session.execute(delete(User).where(User.email == alice.email))
    await db_session.commit()
    assert_problem(await client.get(path, headers=alice.headers), 401, "invalid_token")
