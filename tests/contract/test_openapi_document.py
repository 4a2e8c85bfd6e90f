"""/openapi.json is valid OpenAPI and documents every operation of the API completely."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.apps import asgi_client, make_settings, new_app

# Every operation answers 413 and 431 (body and header limits are checked before routing)
# and a `default` problem; JSON bodies add 400 (unparseable), 415 (not JSON) and 422.
LIMITS = {413, 431}
BODY = {400, 415, 422} | LIMITS
OPERATIONS = {
    ("get", "/healthz"): ("getLiveness", {200} | LIMITS),
    ("get", "/readyz"): ("getReadiness", {200, 503} | LIMITS),
    ("post", "/api/v1/users"): ("createUser", {201, 409, 429, 503} | BODY),
    ("get", "/api/v1/users/me"): ("getCurrentUser", {200, 401, 503} | LIMITS),
    ("post", "/api/v1/auth/token"): ("issueToken", {200, 400, 401, 429, 503} | LIMITS),
    ("post", "/api/v1/auth/refresh"): ("refreshToken", {200, 401, 503} | BODY),
    ("post", "/api/v1/tasks"): ("createTask", {201, 401, 409, 503} | BODY),
    ("get", "/api/v1/tasks"): ("listTasks", {200, 401, 422, 503} | LIMITS),
    ("get", "/api/v1/tasks/{task_id}"): ("getTask", {200, 304, 400, 401, 404, 422, 503} | LIMITS),
    ("patch", "/api/v1/tasks/{task_id}"): ("updateTask", {200, 401, 404, 412, 503} | BODY),
    ("delete", "/api/v1/tasks/{task_id}"): (
        "deleteTask",
        {204, 400, 401, 404, 412, 422, 503} | LIMITS,
    ),
}
PUBLIC = {"getLiveness", "getReadiness", "createUser", "issueToken", "refreshToken"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
TOKEN_PROBLEM_REF = {"$ref": "#/components/schemas/TokenProblem"}


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
    assert {(method, path) for path, item in document["paths"].items() for method in item} == set(
        OPERATIONS
    )
    for (method, path), (operation_id, statuses) in OPERATIONS.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["summary"] and operation["description"] and operation["tags"]
        responses = operation["responses"]
        assert {int(status) for status in responses if status != "default"} == statuses
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                # Only the media type actually sent: generated clients parse by it. The token
                # endpoint's own errors are problems with RFC 6749 members (TokenProblem).
                expected = (
                    TOKEN_PROBLEM_REF
                    if operation_id == "issueToken" and status in {"400", "401", "429"}
                    else PROBLEM_REF
                )
                assert response["content"] == {"application/problem+json": {"schema": expected}}


async def test_public_operations_declare_no_security(document: dict[str, Any]) -> None:
    for (method, path), (operation_id, _) in OPERATIONS.items():
        security = document["paths"][path][method]["security"]
        expected: list[dict[str, list[str]]] = (
            [] if operation_id in PUBLIC else [{"OAuth2PasswordBearer": []}]
        )
        assert security == expected, operation_id
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


async def test_optional_parameters_are_plain_types_not_nullable(document: dict[str, Any]) -> None:
    """A generated client must not accept None for a header it then cannot send."""
    headers = {}
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert "anyOf" not in parameter["schema"], parameter["name"]
                if parameter["in"] == "header":
                    headers[parameter["name"]] = parameter["schema"]["type"]
    assert headers == {"Idempotency-Key": "string", "If-Match": "string", "If-None-Match": "string"}


async def test_problem_requires_nothing_and_types_every_member_we_send(
    document: dict[str, Any],
) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert "required" not in problem
    assert problem["additionalProperties"] is True
    members = {name: schema.get("type") for name, schema in problem["properties"].items()}
    assert members == {
        "type": "string",
        "title": "string",
        "status": "integer",
        "detail": "string",
        "instance": "string",
        "code": "string",
        "request_id": None,
        "retry_after": "integer",
        "errors": "array",
        "checks": "object",
    }


async def test_info_servers_and_tags_are_described(document: dict[str, Any]) -> None:
    assert document["info"]["license"] == {"name": "Apache-2.0", "identifier": "Apache-2.0"}
    assert document["info"]["contact"]["url"].startswith("https://")
    [server] = document["servers"]
    assert server["url"] == "/" and server["description"]
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    used = {
        tag for item in document["paths"].values() for op in item.values() for tag in op["tags"]
    }
    assert set(tags) == used and all(tags.values())


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
