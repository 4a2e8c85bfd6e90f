"""GET /tasks: the caller's checks and the page are one statement; the answers stay.

The page statement also returns one row (of no task) for a valid caller with no
tasks on the page, so every page, even an empty one, costs one statement; only a
caller who is gone or revoked costs a second one, which produces the same 401 as
before.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.session import WriteSession
from tests.integration.api.helpers import LoggedIn, counted_statements, remove_user, revoke_tokens
from tests.support.problems import assert_problem


async def _create(client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, **body: Any) -> str:
    created = await client.post(app.url_path_for("createTask"), json=body, headers=user.headers)
    assert created.status_code == 201, created.text
    task_id: str = created.json()["id"]
    return task_id


async def _page(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, **params: Any
) -> httpx.Response:
    return await client.get(app.url_path_for("listTasks"), params=params, headers=user.headers)


def _checks_the_caller(statement: str) -> bool:
    return "app_user" in statement and "token_version" in statement


async def test_a_page_is_one_statement_that_checks_the_caller(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn
) -> None:
    ids = [await _create(client, app, alice, title=f"task {n}") for n in range(3)]
    with counted_statements(engine) as statements:
        response = await _page(client, app, alice, limit=50)
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == ids[::-1]
    assert response.json()["next_cursor"] is None
    assert len(statements) == 1, statements
    assert _checks_the_caller(statements[0])


async def test_a_filtered_page_after_a_cursor_is_one_statement(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn
) -> None:
    ids = [await _create(client, app, alice, title=f"t{n}", status="done") for n in range(3)]
    await _create(client, app, alice, title="not done")
    first = await _page(client, app, alice, limit=2, status="done")
    assert first.status_code == 200, first.text
    assert "Link" in first.headers
    with counted_statements(engine) as statements:
        second = await _page(
            client, app, alice, limit=2, status="done", cursor=first.json()["next_cursor"]
        )
    assert second.status_code == 200, second.text
    assert [item["id"] for item in second.json()["items"]] == [ids[0]]
    assert second.json()["next_cursor"] is None and "Link" not in second.headers
    assert len(statements) == 1, statements
    assert _checks_the_caller(statements[0])


async def test_an_empty_page_is_one_statement_and_not_a_401(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, alice: LoggedIn, bob: LoggedIn
) -> None:
    await _create(client, app, alice, title="alice's")
    with counted_statements(engine) as statements:
        response = await _page(client, app, bob)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None, "next": None}
    assert len(statements) == 1, statements


async def test_a_revoked_token_is_401_in_two_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: AsyncEngine,
    alice: LoggedIn,
    db_session: WriteSession,
) -> None:
    await _create(client, app, alice, title="still there")
    await revoke_tokens(db_session, alice)
    with counted_statements(engine) as statements:
        response = await _page(client, app, alice)
    body = assert_problem(response, 401, "invalid_token")
    assert "revoked" in body["detail"]
    assert len(statements) <= 2, statements


async def test_a_gone_user_is_401_not_an_empty_page(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    await remove_user(db_session, alice)
    body = assert_problem(await _page(client, app, alice), 401, "invalid_token")
    assert "no existing user" in body["detail"]


async def test_a_revoked_token_with_a_tampered_cursor_is_still_401(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    await revoke_tokens(db_session, alice)
    response = await _page(client, app, alice, cursor="not-a-cursor")
    assert_problem(response, 401, "invalid_token")
