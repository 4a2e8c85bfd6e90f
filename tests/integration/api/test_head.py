"""HEAD is answered wherever GET is, with GET's status and headers and no content."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_tasks import create, task_url

SAME_HEADERS = ("content-type", "content-length", "etag", "cache-control")


def _headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in SAME_HEADERS}


async def test_head_mirrors_get_without_content(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await create(client, app, alice)
    paths = [
        "/healthz",
        str(app.url_path_for("listTasks")),
        task_url(app, created.json()["id"]),
        str(app.url_path_for("getCurrentUser")),
    ]
    for path in paths:
        got = await client.get(path, headers=alice.headers)
        head = await client.head(path, headers=alice.headers)
        assert got.status_code == 200, path
        assert head.status_code == 200, (path, head.text)
        assert head.content == b""
        assert _headers(head) == _headers(got), path
    etag = created.headers["etag"]
    revalidated = await client.head(paths[2], headers={**alice.headers, "If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.headers["etag"] == etag


async def test_head_of_missing_or_unauthenticated_resource_fails_like_get(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    missing = await client.head(task_url(app, str(uuid.uuid4())), headers=alice.headers)
    assert missing.status_code == 404 and missing.content == b""
    assert missing.headers["content-type"] == "application/problem+json"
    anonymous = await client.head(str(app.url_path_for("listTasks")))
    assert anonymous.status_code == 401 and anonymous.content == b""
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_head_where_there_is_no_get_is_405_and_every_allow_names_head(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    token = await client.head(str(app.url_path_for("issueToken")))
    assert token.status_code == 405 and token.content == b""
    assert token.headers["allow"] == "POST"
    nowhere = await client.head("/api/v1/nothing")
    assert nowhere.status_code == 404 and nowhere.content == b""
    probe = await client.delete("/healthz")
    assert probe.status_code == 405
    assert probe.headers["allow"] == "GET, HEAD"
