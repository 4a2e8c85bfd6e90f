"""Create, read, update and delete tasks through the HTTP interface, with ETags."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from service.db.session import WriteSession
from service.domains.tasks.models import Task
from tests.integration.api.helpers import LoggedIn
from tests.support.problems import assert_problem

FULL_TASK = {
    "title": "Write the release notes",
    "description": "Cover the migration steps.",
    "status": "in_progress",
    "priority": "high",
    "due_at": "2026-12-01T17:00:00+01:00",
}


async def create(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, body: dict[str, Any] | None = None
) -> httpx.Response:
    """POST /tasks as a user."""
    return await client.post(
        app.url_path_for("createTask"), json=body or {"title": "a task"}, headers=user.headers
    )


def task_url(app: FastAPI, task_id: str) -> str:
    """The path of one task."""
    return str(app.url_path_for("getTask", task_id=task_id))


async def test_create_returns_201_with_location_and_etag(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    response = await create(
        client, app, alice, {**FULL_TASK, "title": "  Write the release notes "}
    )

    assert response.status_code == 201, response.text
    task = response.json()
    assert {k: task[k] for k in ("title", "description", "status", "priority")} == {
        k: FULL_TASK[k] for k in ("title", "description", "status", "priority")
    }
    assert task["due_at"] == "2026-12-01T16:00:00.000000Z"
    assert task["created_at"].endswith("Z") and task["created_at"] == task["updated_at"]
    assert task["version"] == 1
    assert response.headers["location"] == task_url(app, task["id"])
    assert response.headers["etag"] == f'"{uuid.UUID(task["id"]).hex}-v1"'
    assert "idempotency-replayed" not in response.headers
    stored = await db_session.get(Task, uuid.UUID(task["id"]))
    assert stored is not None and stored.owner_id == uuid.UUID(alice.user["id"])


async def test_create_applies_defaults(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    task = (await create(client, app, alice, {"title": "t"})).json()

    assert (task["status"], task["priority"], task["description"], task["due_at"]) == (
        "todo",
        "normal",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": True}, "title"),
        ({"title": 5}, "title"),
        ({"title": None}, "title"),
        ({"description": "x"}, "title"),
        ({"title": "t", "description": "x" * 10_001}, "description"),
        ({"title": "t", "status": "blocked"}, "status"),
        ({"title": "t", "priority": 1}, "priority"),
        ({"title": "t", "due_at": "2026-12-01T17:00:00"}, "due_at"),
        ({"title": "t", "due_at": "tomorrow"}, "due_at"),
        ({"title": "t", "due_at": 1_795_000_000}, "due_at"),
        ({"title": "t", "owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"title": "t", "version": 7}, "version"),
        ({"title": "nul\u0000byte"}, "title"),
    ],
)
async def test_create_rejects_invalid_bodies(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, body: dict[str, Any], field: str
) -> None:
    response = await create(client, app, alice, body)

    problem = assert_problem(response, 422, "validation_failed")
    assert field in {error["field"] for error in problem["errors"]}


async def test_create_accepts_the_title_bounds(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    for title in ("x", "y" * 200, " " + "z" * 200 + " "):
        assert (await create(client, app, alice, {"title": title})).status_code == 201


async def test_create_without_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, db_session: WriteSession
) -> None:
    before = await db_session.scalar(select(func.count()).select_from(Task))

    response = await client.post(app.url_path_for("createTask"), json={"title": "t"})

    assert_problem(response, 401, "not_authenticated")
    assert await db_session.scalar(select(func.count()).select_from(Task)) == before


async def test_get_returns_the_task_with_etag_and_304(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice, FULL_TASK)
    url, etag = task_url(app, created.json()["id"]), created.headers["etag"]

    response = await client.get(url, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == created.json()
    assert response.headers["etag"] == etag

    for if_none_match in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        cached = await client.get(url, headers={**alice.headers, "If-None-Match": if_none_match})
        assert cached.status_code == 304, if_none_match
        assert cached.content == b""
        assert cached.headers["etag"] == etag

    stale = await client.get(url, headers={**alice.headers, "If-None-Match": '"stale"'})
    assert stale.status_code == 200


async def test_another_users_task_is_404_like_a_missing_one(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    task_id = (await create(client, app, alice)).json()["id"]

    foreign = await client.get(task_url(app, task_id), headers=bob.headers)
    missing = await client.get(task_url(app, str(uuid.uuid4())), headers=bob.headers)

    assert_problem(foreign, 404, "task_not_found")
    assert_problem(missing, 404, "task_not_found")
    patched = await client.patch(task_url(app, task_id), json={"title": "x"}, headers=bob.headers)
    assert_problem(patched, 404, "task_not_found")
    deleted = await client.delete(task_url(app, task_id), headers=bob.headers)
    assert_problem(deleted, 404, "task_not_found")
    assert (await client.get(task_url(app, task_id), headers=alice.headers)).json()[
        "title"
    ] == "a task"


async def test_malformed_task_id_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    response = await client.get(task_url(app, "not-a-uuid"), headers=alice.headers)

    assert_problem(response, 422, "validation_failed")


async def test_get_without_token_is_401(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.get(task_url(app, str(uuid.uuid4())))

    assert_problem(response, 401, "not_authenticated")


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice, FULL_TASK)
    url = task_url(app, created.json()["id"])

    response = await client.patch(
        url,
        json={"status": "done", "description": None, "due_at": None},
        headers={**alice.headers, "If-Match": created.headers["etag"]},
    )

    assert response.status_code == 200, response.text
    task = response.json()
    assert (task["status"], task["description"], task["due_at"]) == ("done", None, None)
    assert (task["title"], task["priority"]) == (FULL_TASK["title"], FULL_TASK["priority"])
    assert task["version"] == 2
    assert task["updated_at"] > created.json()["updated_at"]
    assert response.headers["etag"] != created.headers["etag"]
    assert (
        response.headers["etag"] == (await client.get(url, headers=alice.headers)).headers["etag"]
    )


async def test_patch_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url, first_etag = task_url(app, created.json()["id"]), created.headers["etag"]
    await client.patch(url, json={"title": "second"}, headers=alice.headers)

    for if_match in (first_etag, f"W/{first_etag}", '"garbage"', "not a tag"):
        response = await client.patch(
            url, json={"title": "third"}, headers={**alice.headers, "If-Match": if_match}
        )
        assert_problem(response, 412, "precondition_failed")

    current = (await client.get(url, headers=alice.headers)).json()
    assert (current["title"], current["version"]) == ("second", 2)


async def test_patch_with_star_if_match_applies(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    url = task_url(app, (await create(client, app, alice)).json()["id"])

    response = await client.patch(
        url, json={"priority": "urgent"}, headers={**alice.headers, "If-Match": "*"}
    )

    assert response.json()["priority"] == "urgent"


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"status": None},
        {"priority": None},
        {"title": "   "},
        {"status": "archived"},
        {"due_at": "2026-12-01T17:00:00"},
        {"description": "x" * 10_001},
        {"version": 9},
        {"title": False},
    ],
)
async def test_patch_rejects_invalid_changes(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, body: dict[str, Any]
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])

    response = await client.patch(url, json=body, headers=alice.headers)

    assert_problem(response, 422, "validation_failed")
    assert (await client.get(url, headers=alice.headers)).json() == created.json()


async def test_empty_patch_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])

    response = await client.patch(url, json={}, headers=alice.headers)
    assert response.json() == created.json()
    assert response.headers["etag"] == created.headers["etag"]
    stale = await client.patch(url, json={}, headers={**alice.headers, "If-Match": '"old"'})
    assert_problem(stale, 412, "precondition_failed")


async def test_patch_of_missing_task_is_404(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    url = task_url(app, str(uuid.uuid4()))

    assert_problem(
        await client.patch(url, json={"title": "x"}, headers=alice.headers), 404, "task_not_found"
    )
    assert_problem(await client.patch(url, json={}, headers=alice.headers), 404, "task_not_found")


async def test_delete_is_204_then_404(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])

    response = await client.delete(
        url, headers={**alice.headers, "If-Match": created.headers["etag"]}
    )

    assert response.status_code == 204
    assert response.content == b""
    assert await db_session.get(Task, uuid.UUID(created.json()["id"])) is None
    assert_problem(await client.delete(url, headers=alice.headers), 404, "task_not_found")
    assert_problem(await client.get(url, headers=alice.headers), 404, "task_not_found")


async def test_delete_with_stale_if_match_is_412_and_keeps_the_task(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])
    await client.patch(url, json={"title": "changed"}, headers=alice.headers)

    response = await client.delete(
        url, headers={**alice.headers, "If-Match": created.headers["etag"]}
    )

    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(url, headers=alice.headers)).status_code == 200


async def test_delete_without_token_is_401(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.delete(task_url(app, str(uuid.uuid4())))

    assert_problem(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/tasks", "GET, HEAD, POST"),
        ("PUT", f"/api/v1/tasks/{uuid.uuid4()}", "DELETE, GET, HEAD, PATCH"),
    ],
)
async def test_unsupported_method_is_405_listing_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
