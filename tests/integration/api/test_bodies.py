"""Request bodies: unparseable is 400, not JSON 415, invalid 422; PATCH takes merge patches."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from service.db.session import WriteSession
from service.domains.tasks.models import Task
from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_tasks import create, task_url
from tests.support.problems import assert_problem

MERGE_PATCH = "application/merge-patch+json"


async def _post(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, content: bytes, media_type: str | None
) -> httpx.Response:
    headers = {**user.headers, **({"Content-Type": media_type} if media_type else {})}
    return await client.post(app.url_path_for("createTask"), content=content, headers=headers)


async def _count(db_session: WriteSession) -> int:
    return int(await db_session.scalar(select(func.count()).select_from(Task)) or 0)


async def test_json_bodies_in_any_json_media_type_are_accepted_and_validated(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    body = json.dumps({"title": "Write the notes"}).encode()
    for media_type in ("application/json", "application/json; charset=utf-8"):
        created = await _post(client, app, alice, body, media_type)
        assert created.status_code == 201, (media_type, created.text)
    invalid = await _post(client, app, alice, b'{"title": 7}', "application/json")
    problem = assert_problem(invalid, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["title"]


@pytest.mark.parametrize(
    "content",
    [b'{"title": "a"', b'{"title": 9,}', b'{"title": "\xff\xfe"}', b"\xff\xfe"],
    ids=["truncated", "trailing-comma", "invalid-utf8-in-string", "invalid-utf8"],
)
async def test_unparseable_bodies_are_400_and_create_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    content: bytes,
) -> None:
    response = await _post(client, app, alice, content, "application/json")
    problem = assert_problem(response, 400, "malformed_body")
    # Nothing in the answer points into the body: there is no field to name.
    assert "errors" not in problem
    assert await _count(db_session) == 0


@pytest.mark.parametrize("media_type", ["text/plain", "application/xml", None])
async def test_bodies_that_are_not_json_are_415_and_create_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    media_type: str | None,
) -> None:
    body = json.dumps({"title": "Write the notes"}).encode()
    response = await _post(client, app, alice, body, media_type)
    assert_problem(response, 415, "unsupported_media_type")
    assert "accept-patch" not in response.headers
    assert await _count(db_session) == 0


async def _patch(
    client: httpx.AsyncClient, url: str, user: LoggedIn, body: Any, media_type: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**user.headers, "Content-Type": media_type}
    return await client.patch(url, content=content, headers=headers)


async def test_patch_applies_a_merge_patch(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice, {"title": "a", "description": "to clear"})
    url = task_url(app, created.json()["id"])
    patch = {"status": "done", "description": None}
    response = await _patch(client, url, alice, patch, MERGE_PATCH)
    assert response.status_code == 200, response.text
    task = response.json()
    assert (task["status"], task["description"], task["title"]) == ("done", None, "a")
    assert task["version"] == 2
    document = (await client.get("/openapi.json")).json()
    content = document["paths"]["/api/v1/tasks/{task_id}"]["patch"]["requestBody"]["content"]
    assert set(content) == {MERGE_PATCH, "application/json"}


async def test_patch_in_another_media_type_is_415_naming_the_accepted_patch_formats(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])
    for media_type in ("application/json-patch+xml", "text/plain"):
        response = await _patch(client, url, alice, {"status": "done"}, media_type)
        assert_problem(response, 415, "unsupported_media_type")
        assert response.headers["accept-patch"] == f"{MERGE_PATCH}, application/json"
    unchanged = await client.get(url, headers=alice.headers)
    assert unchanged.json()["version"] == 1


async def test_merge_patch_that_is_unparseable_or_invalid_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])
    assert_problem(
        await _patch(client, url, alice, b'{"status":', MERGE_PATCH), 400, "malformed_body"
    )
    # RFC 7396 would remove a member patched to null; a task cannot lose its title.
    invalid = await _patch(client, url, alice, {"title": None}, MERGE_PATCH)
    assert_problem(invalid, 422, "validation_failed")
    unchanged = await client.get(url, headers=alice.headers)
    assert unchanged.json()["version"] == 1
