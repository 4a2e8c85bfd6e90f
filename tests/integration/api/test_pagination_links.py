"""GET /tasks links its next page: `Link: <…>; rel="next"` and `next` in the body."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from service.config import Settings
from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_tasks_list import create_tasks
from tests.support.apps import new_app, serving
from tests.support.problems import assert_problem

_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def _next_link(response: httpx.Response) -> str | None:
    value = response.headers.get("link")
    if value is None:
        return None
    match = _LINK.fullmatch(value)
    assert match is not None, value
    return match.group("url")


async def test_pages_link_to_the_next_until_the_last(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create_tasks(client, app, alice, 5, status="done")
    await create_tasks(client, app, alice, 2, status="todo")
    url: str | None = f"{app.url_path_for('listTasks')}?status=done&limit=2&ignored=x"
    seen: list[dict[str, Any]] = []
    pages = 0
    while url is not None:
        response = await client.get(url, headers=alice.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(body["items"])
        pages += 1
        assert _next_link(response) == body["next"]
        if body["next"] is None:
            assert body["next_cursor"] is None
        else:
            assert body["next"].startswith("/api/v1/tasks?status=done&limit=2&cursor=")
            assert body["next"].endswith(body["next_cursor"])
        url = body["next"]
    assert pages == 3
    assert [task["id"] for task in seen] == [task["id"] for task in reversed(created)]


async def test_a_rejected_cursor_or_limit_has_no_next_link(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    await create_tasks(client, app, alice, 2)
    first = await client.get(
        app.url_path_for("listTasks"), params={"limit": 1}, headers=alice.headers
    )
    cursor = first.json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    rejected = await client.get(
        app.url_path_for("listTasks"), params={"cursor": tampered}, headers=alice.headers
    )
    assert_problem(rejected, 422, "invalid_cursor")
    assert "link" not in rejected.headers
    too_many = await client.get(
        app.url_path_for("listTasks"), params={"limit": 101}, headers=alice.headers
    )
    assert_problem(too_many, 422, "validation_failed")
    assert "link" not in too_many.headers


async def test_a_single_page_and_an_anonymous_caller_get_no_next_link(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    await create_tasks(client, app, alice, 2)
    only = await client.get(
        app.url_path_for("listTasks"), params={"limit": 2}, headers=alice.headers
    )
    assert only.status_code == 200 and len(only.json()["items"]) == 2
    assert only.json()["next"] is None and "link" not in only.headers
    anonymous = await client.get(app.url_path_for("listTasks"), params={"limit": 1})
    assert_problem(anonymous, 401, "not_authenticated")
    assert "link" not in anonymous.headers


async def test_browsers_may_read_the_link_header(settings: Settings) -> None:
    origin = "https://ui.example"
    tuned = settings.model_copy(update={"cors_origins": (origin,)})
    async with serving(new_app(tuned)) as http:
        response = await http.get("/api/v1/tasks", headers={"Origin": origin})
    exposed = {
        name.strip() for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert "Link" in exposed
