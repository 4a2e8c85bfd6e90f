"""Concurrent POSTs sharing one Idempotency-Key, across two real worker processes."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.resilience.api import Owner, create_task, rows
from tests.resilience.support import PROBLEM_JSON
from tests.support.server import ServiceProcess

pytestmark = pytest.mark.postgres

CONCURRENT_POSTS = 20


async def owner_id(client: httpx.AsyncClient, owner: Owner) -> str:
    """The id of the owner's user."""
    me = await client.get("/api/v1/users/me", headers=owner.auth)
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


async def post_all(
    service: ServiceProcess, owner: Owner, key: str, titles: list[str]
) -> list[httpx.Response]:
    """POST one task per title at once, each on its own connection, all with `key`."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30.0, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(create_task(client, owner.auth, title, idempotency_key=key) for title in titles)
            )
        )


def assert_in_progress_conflict(response: httpx.Response) -> None:
    """A 409 for a key whose first request is still running."""
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "idempotency_key_in_progress"
    assert response.headers["retry-after"].isdigit()


async def test_twenty_concurrent_posts_with_one_key_create_one_task(
    proxied_service: ServiceProcess, owner: Owner, migrated_database: URL
) -> None:
    key = f"concurrent-{uuid.uuid4()}"
    title = f"exactly once {key}"
    responses = await post_all(proxied_service, owner, key, [title] * CONCURRENT_POSTS)

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    created = [r for r in responses if r.status_code == 201]
    assert created, statuses
    assert len({r.json()["id"] for r in created}) == 1, "every 201 must name the same task"
    originals = [r for r in created if r.headers.get("idempotency-replayed") != "true"]
    assert len(originals) == 1, "exactly one request created, the others replayed"
    for response in responses:
        if response.status_code == 409:
            assert_in_progress_conflict(response)

    async with httpx.AsyncClient(base_url=proxied_service.base_url) as client:
        user = await owner_id(client, owner)
        retry = await create_task(client, owner.auth, title, idempotency_key=key)
    assert retry.status_code == 201
    assert retry.headers["idempotency-replayed"] == "true"
    assert retry.json()["id"] == created[0].json()["id"]

    tasks = await rows(
        migrated_database,
        "SELECT id::text FROM task WHERE owner_id = $1::uuid AND title = $2",
        user,
        title,
    )
    assert [row["id"] for row in tasks] == [created[0].json()["id"]]
    keys = await rows(
        migrated_database,
        "SELECT response_status FROM idempotency_key WHERE owner_id = $1::uuid AND key = $2",
        user,
        key,
    )
    assert [row["response_status"] for row in keys] == [201]


async def test_one_key_with_two_different_bodies_at_once_creates_one_task(
    proxied_service: ServiceProcess, owner: Owner, migrated_database: URL
) -> None:
    key = f"conflicting-{uuid.uuid4()}"
    titles = [f"body {index % 2} {key}" for index in range(CONCURRENT_POSTS)]
    responses = await post_all(proxied_service, owner, key, titles)

    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    winner = created[0].json()["title"]
    for response, title in zip(responses, titles, strict=True):
        if response.status_code == 201:
            assert title == winner, "a replay must only answer the same body"
        elif response.status_code == 409:
            assert_in_progress_conflict(response)
        else:
            assert response.status_code == 422, response.text
            assert title != winner, "the same body must never be refused"
            assert response.headers["content-type"] == PROBLEM_JSON

    async with httpx.AsyncClient(base_url=proxied_service.base_url) as client:
        user = await owner_id(client, owner)
    tasks = await rows(
        migrated_database,
        "SELECT title FROM task WHERE owner_id = $1::uuid AND title = ANY($2::text[])",
        user,
        sorted(set(titles)),
    )
    assert [row["title"] for row in tasks] == [winner]
