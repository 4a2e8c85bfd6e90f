"""/openapi.json is valid OpenAPI and documents every operation of the API completely."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.apps import asgi_client, make_settings, new_app

OPERATIONS = {
    ("post", "/api/v1/users"): ("createUser", {201, 400, 409, 422, 503}),
    ("get", "/api/v1/users/me"): ("getCurrentUser", {200, 401, 503}),
    ("post", "/api/v1/auth/token"): ("issueToken", {200, 400, 401, 422, 429, 503}),
    ("post", "/api/v1/auth/refresh"): ("refreshToken", {200, 400, 401, 422, 503}),
    ("post", "/api/v1/tasks"): ("createTask", {201, 400, 401, 409, 422, 503}),
    ("get", "/api/v1/tasks"): ("listTasks", {200, 401, 422, 503}),
    ("get", "/api/v1/tasks/{task_id}"): ("getTask", {200, 304, 401, 404, 422, 503}),
    ("patch", "/api/v1/tasks/{task_id}"): ("updateTask", {200, 400, 401, 404, 412, 422, 503}),
    ("delete", "/api/v1/tasks/{task_id}"): ("deleteTask", {204, 401, 404, 412, 422, 503}),
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


async def test_every_operation_has_id_summary_description_tags_and_responses(
    document: dict[str, Any],
) -> None:
    for (method, path), (operation_id, statuses) in OPERATIONS.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["summary"] and operation["description"] and operation["tags"]
        assert {int(status) for status in operation["responses"]} == statuses, operation_id
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == PROBLEM_REF, (operation_id, status)


async def test_only_registration_and_token_endpoints_are_public(document: dict[str, Any]) -> None:
    public = {"createUser", "issueToken", "refreshToken"}
    for (method, path), (operation_id, _) in OPERATIONS.items():
        secured = "security" in document["paths"][path][method]
        assert secured is (operation_id not in public), operation_id
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


async def test_request_and_response_bodies_have_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    names = ("UserCreate", "UserOut", "TokenPair", "RefreshRequest", "TaskCreate", "TaskUpdate")
    for name in (*names, "TaskPage"):
        assert schemas[name].get("examples"), name
    task = schemas.get("TaskOut") or schemas["TaskOut-Output"]
    assert task.get("examples")


async def test_docs_are_gated_by_the_docs_setting() -> None:
    app = new_app(make_settings("sqlite+aiosqlite:///unused.db", docs_enabled=False))
    async with asgi_client(app) as http:
        assert (await http.get("/openapi.json")).status_code == 404
        assert (await http.get("/docs")).status_code == 404
