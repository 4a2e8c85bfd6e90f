"""If-Match / If-None-Match beyond the happy path: bounded lists, DELETE, after a PATCH."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from service.db.session import WriteSession
from service.domains.tasks.etags import MAX_ENTITY_TAGS, task_etag
from service.domains.tasks.models import Task
from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_tasks import create, task_url
from tests.support.problems import assert_problem

# More than asyncpg's 32,767 bind parameters if every listed version became one.
HUGE_LIST = 33_000


def _tags(task_id: str, count: int, first_version: int = 1) -> str:
    identifier = uuid.UUID(task_id)
    return ", ".join(task_etag(identifier, v) for v in range(first_version, first_version + count))


@pytest.mark.postgres
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_33000_if_match_tags_are_a_400_not_a_database_outage(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession, method: str
) -> None:
    created = await create(client, app, alice)
    task_id = created.json()["id"]
    headers = {**alice.headers, "If-Match": _tags(task_id, HUGE_LIST)}

    response = await client.request(
        method, task_url(app, task_id), headers=headers, json={"title": "x"}
    )

    problem = assert_problem(response, 400, "too_many_entity_tags")
    assert str(MAX_ENTITY_TAGS) in problem["detail"]
    assert "retry-after" not in response.headers
    kept = await db_session.get(Task, uuid.UUID(task_id))
    assert kept is not None and (kept.title, kept.version) == ("a task", 1)


@pytest.mark.postgres
async def test_33000_if_none_match_tags_are_a_400(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    task_id = (await create(client, app, alice)).json()["id"]
    headers = {**alice.headers, "If-None-Match": _tags(task_id, HUGE_LIST)}

    response = await client.get(task_url(app, task_id), headers=headers)

    assert_problem(response, 400, "too_many_entity_tags")


async def test_the_largest_accepted_list_still_matches(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    task_id = (await create(client, app, alice)).json()["id"]
    url = task_url(app, task_id)
    listed = {**alice.headers, "If-Match": _tags(task_id, MAX_ENTITY_TAGS)}
    one_too_many = {**alice.headers, "If-Match": _tags(task_id, MAX_ENTITY_TAGS + 1)}

    assert_problem(await client.delete(url, headers=one_too_many), 400, "too_many_entity_tags")
    assert (await client.delete(url, headers=listed)).status_code == 204


async def test_a_list_without_the_current_version_is_still_412(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    task_id = (await create(client, app, alice)).json()["id"]
    headers = {**alice.headers, "If-Match": _tags(task_id, MAX_ENTITY_TAGS, first_version=2)}

    response = await client.patch(task_url(app, task_id), headers=headers, json={"title": "y"})

    assert_problem(response, 412, "precondition_failed")


async def test_delete_with_a_weak_garbage_or_foreign_if_match_is_412_and_keeps_the_task(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    created = await create(client, app, alice)
    other = await create(client, app, alice)
    url, etag = task_url(app, created.json()["id"]), created.headers["etag"]

    for if_match in (f"W/{etag}", '"garbage"', "not a tag", other.headers["etag"]):
        response = await client.delete(url, headers={**alice.headers, "If-Match": if_match})
        assert_problem(response, 412, "precondition_failed")

    assert await db_session.get(Task, uuid.UUID(created.json()["id"])) is not None
    assert (await client.get(url, headers=alice.headers)).headers["etag"] == etag


async def test_after_a_patch_the_old_etag_in_if_none_match_gets_the_new_representation(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url, old_etag = task_url(app, created.json()["id"]), created.headers["etag"]
    patched = await client.patch(url, json={"title": "renamed"}, headers=alice.headers)

    for if_none_match in (old_etag, f"W/{old_etag}"):
        response = await client.get(url, headers={**alice.headers, "If-None-Match": if_none_match})
        assert response.status_code == 200
        assert response.headers["etag"] == patched.headers["etag"] != old_etag
        assert response.json()["title"] == "renamed"
    new = await client.get(url, headers={**alice.headers, "If-None-Match": patched.headers["etag"]})
    assert new.status_code == 304
