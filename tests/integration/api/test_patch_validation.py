"""A refused PATCH names each field once, by its own name, and shows nothing of the validators."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.integration.api.helpers import LoggedIn
from tests.support.problems import assert_problem

# What pydantic puts in a location or message when a field's type is a union.
INTERNALS = ("function-", "chain[", "functools", " at 0x", "none_required", "str-enum[")


async def _patch(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, body: dict[str, object]
) -> httpx.Response:
    created = await client.post(
        app.url_path_for("createTask"), json={"title": "to change"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    return await client.patch(
        app.url_path_for("getTask", task_id=created.json()["id"]),
        json=body,
        headers={**user.headers, "If-Match": created.headers["etag"]},
    )


def _errors(response: httpx.Response) -> list[dict[str, object]]:
    body = assert_problem(response, 422, "validation_failed")
    assert not [part for part in INTERNALS if part in response.text], response.text
    errors: list[dict[str, object]] = body["errors"]
    return errors


async def test_a_valid_patch_is_applied(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    response = await _patch(client, app, alice, {"title": " changed ", "priority": "high"})
    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["priority"]) == ("changed", "high")


async def test_wrong_types_get_one_error_per_field_at_its_name(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    body = {"title": 5, "priority": "critical", "status": ["done"]}
    errors = _errors(await _patch(client, app, alice, body))
    assert sorted(str(error["field"]) for error in errors) == ["priority", "status", "title"]
    assert all(error["loc"] == ["body", error["field"]] for error in errors), errors


async def test_null_for_a_field_that_may_only_be_left_out_is_one_error(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    errors = _errors(await _patch(client, app, alice, {"title": None, "status": None}))
    assert sorted(str(error["field"]) for error in errors) == ["status", "title"]
    assert all("not null" in str(error["message"]) for error in errors), errors
