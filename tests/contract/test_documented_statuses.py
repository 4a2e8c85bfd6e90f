"""The limits' answers (400, 413, 415, 429, 431) of a real serve are documented where they occur.

Schemathesis' status_code_conformance (test_openapi_contract.py) checks every status it
provokes through the document; these statuses come from layers that generated data does
not reach: the HTTP protocol (431), the body limit (413), the body parsing (400, 415), the
login lockout and the registration limit (429). Each is provoked on every operation it can
occur on, and must be declared there, as problem+json, by status (not only by `default`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.contract.conftest import SERVED_BODY_LIMIT
from tests.integration.api.helpers import PASSWORD
from tests.support.problems import PROBLEM_JSON
from tests.support.server import ServiceProcess, running_service

HEADER_LIMIT = 16_384
BACKOFF_AFTER = 5  # half of LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS


@pytest.fixture(scope="module")
def http(served: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def document(http: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = http.get("/openapi.json").raise_for_status().json()
    return body


@pytest.fixture(scope="module")
def token(http: httpx.Client) -> str:
    email = f"statuses-{uuid.uuid4().hex[:12]}@example.com"
    http.post("/api/v1/users", json={"email": email, "password": PASSWORD}).raise_for_status()
    form = {"username": email, "password": PASSWORD}
    access: str = (
        http.post("/api/v1/auth/token", data=form).raise_for_status().json()["access_token"]
    )
    return access


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path.replace("{task_id}", str(uuid.uuid4())), operation


def _takes_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def _assert_documented(response: httpx.Response, status: int, operation: dict[str, Any]) -> None:
    name = operation["operationId"]
    assert response.status_code == status, (name, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_JSON, name
    assert response.json()["status"] == status, name
    declared = operation["responses"].get(str(status))
    assert declared is not None, f"{name} answered {status}, which its responses do not declare"
    assert PROBLEM_JSON in declared["content"], (name, status)


def test_body_and_header_limits_are_documented_on_every_operation(
    http: httpx.Client, document: dict[str, Any], token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    oversized = b"x" * (SERVED_BODY_LIMIT + 1)
    for method, path, operation in _operations(document):
        too_large = http.request(method, path, content=oversized, headers=auth)
        _assert_documented(too_large, 413, operation)
        huge_header = {**auth, "X-Padding": "p" * (HEADER_LIMIT + 1)}
        with httpx.Client(base_url=str(http.base_url), timeout=30) as fresh:
            # The server closes the connection after a 431: one connection for it alone.
            header_refused = fresh.request(method, path, headers=huge_header)
        _assert_documented(header_refused, 431, operation)


def test_body_parsing_errors_are_documented_on_every_json_operation(
    http: httpx.Client, document: dict[str, Any], token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    json_operations = [op for op in _operations(document) if _takes_json(op[2])]
    assert {operation["operationId"] for _, _, operation in json_operations} >= {
        "createUser",
        "refreshToken",
        "createTask",
        "updateTask",
    }
    for method, path, operation in json_operations:
        malformed = {**auth, "Content-Type": "application/json"}
        _assert_documented(
            http.request(method, path, content=b'{"a":', headers=malformed), 400, operation
        )
        as_text = {**auth, "Content-Type": "text/plain"}
        _assert_documented(
            http.request(method, path, content=b'{"a": 1}', headers=as_text), 415, operation
        )


def test_the_login_lockout_is_documented_on_the_token_operation(
    http: httpx.Client, document: dict[str, Any]
) -> None:
    operation = document["paths"]["/api/v1/auth/token"]["post"]
    form = {"username": f"locked-{uuid.uuid4().hex[:12]}@example.com", "password": "wrong"}
    # Back-to-back failures: after half of the limit the doubling back-off refuses one.
    answers = [http.post("/api/v1/auth/token", data=form) for _ in range(12)]
    statuses = [answer.status_code for answer in answers]
    assert 429 in statuses, statuses
    first = statuses.index(429)
    assert first >= BACKOFF_AFTER and set(statuses[:first]) == {400}, statuses
    locked = answers[first]
    _assert_documented(locked, 429, operation)
    assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_the_registration_limit_is_documented_on_the_register_operation(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    operation = document["paths"]["/api/v1/users"]["post"]
    env = {"REGISTRATION_MAX_PER_ADDRESS": "1", "WEB_CONCURRENCY": "1"}
    with (
        running_service(env, cwd=tmp_path_factory.mktemp("limited")) as limited,
        httpx.Client(base_url=limited.base_url, timeout=30) as http,
    ):
        email = f"limited-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": PASSWORD}
        assert http.post("/api/v1/users", json=body).status_code == 201
        refused = http.post("/api/v1/users", json=body)

    _assert_documented(refused, 429, operation)
    assert int(refused.headers["retry-after"]) > 0
    assert "Retry-After" in operation["responses"]["429"]["headers"]
