"""Each endpoint declares its session: reads in autocommit, writes in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.session import ReadOnlySessionError, ReadSession, WriteSession
from service.domains import discover_routers
from service.domains.tasks.models import Task, TaskStatus
from service.domains.users.models import LoginAttempt
from service.state import app_state
from tests.integration.api.helpers import sign_up


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, bool]]]:
    """(statement, in autocommit) of every statement the app's engine runs meanwhile."""
    seen: list[tuple[str, bool]] = []

    def record(connection: Connection, _: Any, statement: str, *__: Any) -> None:
        level = connection.get_execution_options().get("isolation_level")
        seen.append((statement.split(maxsplit=1)[0].upper(), level == "AUTOCOMMIT"))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_the_api_client_reads_in_autocommit_and_writes_in_a_transaction(
    client: httpx.AsyncClient, app: FastAPI, statements: list[tuple[str, bool]]
) -> None:
    user = await sign_up(client, app, "sessions")
    created = await client.post(
        app.url_path_for("createTask"), json={"title": "kinds"}, headers=user.headers
    )
    assert created.status_code == 201
    statements.clear()

    read = await client.get(
        app.url_path_for("getTask", task_id=created.json()["id"]), headers=user.headers
    )
    assert read.status_code == 200
    assert statements, "the read ran no statement"
    assert all(autocommit for _, autocommit in statements), statements

    statements.clear()
    changed = await client.patch(
        app.url_path_for("updateTask", task_id=created.json()["id"]),
        json={"title": "changed"},
        headers=user.headers,
    )
    assert changed.status_code == 200
    assert ("UPDATE", False) in statements
    assert not any(autocommit for _, autocommit in statements), statements


async def test_a_read_session_refuses_a_write_statement(app: FastAPI) -> None:
    async with app_state(app).database.read_sessions() as session:
        assert isinstance(session, ReadSession)
        with pytest.raises(ReadOnlySessionError):
            await session.execute(insert(LoginAttempt).values(email_normalized="x@example.com"))
        count = await session.scalar(
            select(func.count()).where(LoginAttempt.email_normalized == "x@example.com")
        )
    assert count == 0


async def test_a_read_session_refuses_to_flush_new_rows(app: FastAPI) -> None:
    async with app_state(app).database.read_sessions() as session:
        session.add(LoginAttempt(email_normalized="y@example.com"))
        with pytest.raises(ReadOnlySessionError):
            await session.flush()


async def test_a_read_session_reads_what_was_committed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await sign_up(client, app, "reader")
    body = {"title": "done already", "status": "done"}
    await client.post(app.url_path_for("createTask"), json=body, headers=user.headers)
    async with app_state(app).database.read_sessions() as session:
        tasks = list(await session.scalars(select(Task).where(Task.status == TaskStatus.DONE)))
    assert [(task.title, task.status) for task in tasks] == [("done already", TaskStatus.DONE)]
    assert isinstance(tasks[0].status, TaskStatus)


def _session_kinds(dependant: Dependant) -> set[type[Any]]:
    kinds: set[type[Any]] = set()
    for sub in dependant.dependencies:
        call: Callable[..., Any] | None = sub.call
        returned = getattr(call, "__annotations__", {}).get("return", "")
        for kind in (ReadSession, WriteSession):
            if kind.__name__ in str(returned):
                kinds.add(kind)
        kinds |= _session_kinds(sub)
    return kinds


def test_every_endpoint_uses_one_kind_of_session() -> None:
    # Two kinds in one request would hold two pooled connections at once.
    used = {
        route.name: _session_kinds(route.dependant)
        for router in discover_routers()
        for route in router.routes
        if isinstance(route, APIRoute)
    }
    assert {name: kinds for name, kinds in used.items() if len(kinds) != 1} == {}
    reads = {name for name, kinds in used.items() if kinds == {ReadSession}}
    assert reads == {"getCurrentUser", "listTasks", "getTask"}
    assert len(used) == 9
