"""GET /tasks: newest first, keyset pagination with signed cursors, status filter."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from service.config import Settings
from service.core.pagination import CursorCodec, Position
from service.domains.tasks import service as tasks_service
from tests.integration.api.helpers import LoggedIn, sign_up
from tests.support.problems import assert_problem


async def create_tasks(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, count: int, **fields: Any
) -> list[dict[str, Any]]:
    """Create tasks one after another; returns them oldest first."""
    created = []
    for index in range(count):
        response = await client.post(
            app.url_path_for("createTask"),
            json={"title": f"task {index}", **fields},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


async def walk(
    client: httpx.AsyncClient,
    app: FastAPI,
    user: LoggedIn,
    limit: int,
    **params: str,
) -> list[list[dict[str, Any]]]:
    """Every page, following next_cursor until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(
            app.url_path_for("listTasks"), params=query, headers=user.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_return_every_task_once_newest_first(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    created = await create_tasks(client, app, alice, 7)
    await create_tasks(client, app, bob, 2)

    pages = await walk(client, app, alice, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [task for page in pages for task in page]
    assert [task["id"] for task in listed] == [task["id"] for task in reversed(created)]
    assert listed == list(reversed(created))


async def test_default_limit_is_50_and_an_exact_last_page_has_no_cursor(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    await create_tasks(client, app, alice, 4)

    response = await client.get(app.url_path_for("listTasks"), headers=alice.headers)
    exact = await client.get(
        app.url_path_for("listTasks"), params={"limit": 4}, headers=alice.headers
    )

    assert len(response.json()["items"]) == 4
    assert response.json()["next_cursor"] is None
    assert exact.json()["next_cursor"] is None


async def test_empty_list(client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn) -> None:
    response = await client.get(app.url_path_for("listTasks"), headers=alice.headers)

    assert response.json() == {"items": [], "next_cursor": None, "next": None}


async def test_status_filter(client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn) -> None:
    done = await create_tasks(client, app, alice, 3, status="done")
    await create_tasks(client, app, alice, 2, status="todo")

    pages = await walk(client, app, alice, limit=2, status="done")

    assert [task["id"] for page in pages for task in page] == [t["id"] for t in reversed(done)]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"status": "x"}]
)
async def test_invalid_query_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, params: dict[str, str]
) -> None:
    response = await client.get(app.url_path_for("listTasks"), params=params, headers=alice.headers)

    assert_problem(response, 422, "validation_failed")


async def test_tampered_or_foreign_cursor_is_422_invalid_cursor(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, settings: Settings
) -> None:
    await create_tasks(client, app, alice, 3)
    first = await client.get(
        app.url_path_for("listTasks"), params={"limit": 1}, headers=alice.headers
    )
    cursor = first.json()["next_cursor"]
    payload, signature = cursor.split(".")
    forged_payload = base64.urlsafe_b64encode(b"0:" + b"f" * 32).rstrip(b"=").decode()
    other_key = CursorCodec(b"another key entirely").encode(
        tasks_service.cursor_codec(settings).decode(cursor)
    )

    for bad in (
        f"{forged_payload}.{signature}",
        f"{payload}.{signature[::-1]}",
        other_key,
        "abc.def",
        # Not even of the cursor's shape: the same answer as a forged one.
        "no-dot",
        "a.b.c",
        "",
        "a" * 300 + ".b",
        "pay load.sig",
        "ü.x",
    ):
        response = await client.get(
            app.url_path_for("listTasks"), params={"cursor": bad}, headers=alice.headers
        )
        assert_problem(response, 422, "invalid_cursor")
    tampered = await client.get(
        app.url_path_for("listTasks"),
        params={"cursor": f"{forged_payload}.{signature}"},
        headers=alice.headers,
    )
    assert_problem(tampered, 422, "invalid_cursor")


async def test_list_without_token_is_401(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await client.get(app.url_path_for("listTasks")), 401, "not_authenticated")


def test_cursor_round_trip_keeps_microseconds(settings: Settings) -> None:
    codec = tasks_service.cursor_codec(settings)
    position = Position(
        created_at=datetime(2026, 11, 22, 9, 30, 12, 123456, tzinfo=UTC), id=uuid4()
    )

    assert codec.decode(codec.encode(position)) == position


@pytest.mark.postgres
async def test_pagination_under_concurrent_inserts_returns_each_task_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pager = await sign_up(client, app, "pager")
    originals = await create_tasks(client, app, pager, 40)

    async def insert_more() -> list[dict[str, Any]]:
        added = []
        for index in range(30):
            added.extend(await create_tasks(client, app, pager, 1, description=str(index)))
            await asyncio.sleep(0)
        return added

    pages, added = await asyncio.gather(walk(client, app, pager, limit=7), insert_more())

    seen = [task["id"] for page in pages for task in page]
    assert len(seen) == len(set(seen)), "a task was returned twice"
    assert {task["id"] for task in originals} <= set(seen)
    assert set(seen) <= {task["id"] for task in originals + added}
    stamps = [(task["created_at"], task["id"]) for page in pages for task in page]
    assert stamps == sorted(stamps, reverse=True)
