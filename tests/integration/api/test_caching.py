"""HTTP caching: ETag-carrying task representations may be kept and revalidated; the rest not."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_tasks import create, task_url
from tests.support.problems import assert_problem

REVALIDATE = "private, no-cache"


async def test_task_representations_are_private_and_revalidated(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    assert created.headers["cache-control"] == REVALIDATE
    url = task_url(app, created.json()["id"])
    read = await client.get(url, headers=alice.headers)
    assert read.headers["cache-control"] == REVALIDATE and read.headers["etag"]
    revalidated = await client.get(
        url, headers={**alice.headers, "If-None-Match": read.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == REVALIDATE
    changed = await client.patch(
        url, json={"status": "done"}, headers={**alice.headers, "If-Match": read.headers["etag"]}
    )
    assert changed.headers["cache-control"] == REVALIDATE


async def test_token_responses_and_representations_without_etag_are_not_stored(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    form = {"grant_type": "password", "username": alice.email, "password": alice.password}
    token = await client.post(app.url_path_for("issueToken"), data=form)
    assert token.status_code == 200
    assert token.headers["cache-control"] == "no-store"
    listed = await client.get(app.url_path_for("listTasks"), headers=alice.headers)
    assert listed.status_code == 200 and "etag" not in listed.headers
    assert listed.headers["cache-control"] == "no-store"
    me = await client.get(app.url_path_for("getCurrentUser"), headers=alice.headers)
    assert me.headers["cache-control"] == "no-store"


async def test_errors_on_task_resources_are_not_stored(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    created = await create(client, app, alice)
    url = task_url(app, created.json()["id"])
    foreign = await client.get(url, headers=bob.headers)
    assert_problem(foreign, 404, "task_not_found")
    assert foreign.headers["cache-control"] == "no-store"
    stale = await client.patch(
        url, json={"status": "done"}, headers={**alice.headers, "If-Match": '"stale-v0"'}
    )
    assert stale.status_code == 412
    assert stale.headers["cache-control"] == "no-store"
