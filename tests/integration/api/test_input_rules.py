"""Password rules (not only whitespace, not a common password) and visible titles and names."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from service.core.validation import VISIBLE_TEXT_PATTERN
from service.domains.users import passwords
from tests.integration.api.helpers import LoggedIn, register
from tests.support.problems import assert_problem


def _field_errors(response: httpx.Response) -> list[tuple[str, str]]:
    body = assert_problem(response, 422, "validation_failed")
    return [(error["field"], error["message"]) for error in body["errors"]]


async def test_a_password_of_twelve_visible_or_mixed_characters_is_accepted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    for password in (" x" * 6, "\u200b" * 12, "naïve café ünïcødé"):
        assert (await register(client, app, password=password)).status_code == 201, password


@pytest.mark.parametrize("password", [" " * 12, "\t" * 12, "\u3000" * 20, " \n" * 64])
async def test_a_password_of_only_whitespace_is_422(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    response = await register(client, app, password=password)

    assert _field_errors(response) == [("password", "Value error, must not be only whitespace")]


@pytest.mark.parametrize("password", ["000000000000", "Password1234", "QWERTYUIOP123"])
async def test_a_common_password_is_422(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    response = await register(client, app, password=password)

    ((field, message),) = _field_errors(response)
    assert field == "password"
    assert "most common passwords" in message


async def test_a_password_with_nul_is_422(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await register(client, app, password="twelve chars\x00!")

    assert _field_errors(response) == [("password", "Value error, must not contain NUL")]


def test_the_common_password_list_ships_with_the_package() -> None:
    common = passwords.common_passwords()

    assert len(common) > 19_000
    assert {"123456", "password", "qwerty123456", "000000000000"} <= common
    assert all(entry == entry.lower() and entry == entry.strip() for entry in common)


async def _create(
    client: httpx.AsyncClient, app: FastAPI, user: LoggedIn, title: str
) -> httpx.Response:
    return await client.post(
        app.url_path_for("createTask"), json={"title": title}, headers=user.headers
    )


@pytest.mark.parametrize("title", ["🎉", " ok ", "\u200bx", "é"])
async def test_a_title_with_a_visible_character_is_accepted(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, title: str
) -> None:
    response = await _create(client, app, alice, title)

    assert response.status_code == 201, response.text
    assert response.json()["title"] == title.strip()


@pytest.mark.parametrize(
    "title", ["\u200b", "\u200b \u200b", "\ufeff\u2060", "\u3164", "\u00a0\u00ad", "\u2800"]
)
async def test_a_title_of_invisible_characters_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, title: str
) -> None:
    response = await _create(client, app, alice, title)

    assert [field for field, _ in _field_errors(response)] == ["title"]


async def test_an_update_to_an_invisible_title_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    created = await _create(client, app, alice, "visible")
    task_path = app.url_path_for("getTask", task_id=created.json()["id"])

    response = await client.patch(
        task_path,
        json={"title": "\u200b\u200b"},
        headers={**alice.headers, "If-Match": created.headers["etag"]},
    )

    fields = [field for field, _ in _field_errors(response)]
    assert fields == ["title"]


async def test_a_display_name_of_invisible_characters_is_422(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await register(client, app, display_name="\u200b\u200c")

    assert [field for field, _ in _field_errors(response)] == ["display_name"]


async def test_the_document_states_the_rules_the_service_checks(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    password = schemas["UserCreate"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (12, 128)
    assert "common passwords" in password["description"]
    assert password["pattern"]
    for name in ("TaskCreate", "TaskUpdate"):
        title = schemas[name]["properties"]["title"]
        title = title.get("anyOf", [title])[0]
        assert title["pattern"] == VISIBLE_TEXT_PATTERN, name
        assert (title["minLength"], title["maxLength"]) == (1, 200)
