"""Schemathesis runs every operation of /openapi.json against the app, authenticated.

The run is the one `schemathesis run` does (every phase: examples, coverage, fuzzing,
stateful; every check), driven in-process through the app's ASGI interface. The number
of examples per operation comes from SCHEMATHESIS_MAX_EXAMPLES (default 25).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.engine import Status, events

from tests.contract.engine import answered_statuses, checks_run, contract_schema, failure_lines

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# Rejections the schema cannot express (schemathesis' documented per-operation tuning):
# a stale If-Match (412) is well-formed input about a state that moved on; a reused
# Idempotency-Key with another body is a 422 by contract; a cursor of the right shape
# whose HMAC signature does not verify is a 422 `invalid_cursor`; a password on the
# shipped list of common passwords (generators like "000000000000") is a 422 that only
# the description states (20,000 entries do not belong in the document); credentials
# or a refresh token the service never issued are a 400 `invalid_grant` (RFC 6749).
STATE_DEPENDENT_REJECTIONS: dict[str, list[str]] = {
    "createUser": ["422"],
    "issueToken": ["400"],
    "createTask": ["422"],
    "listTasks": ["422"],
    "updateTask": ["412"],
    "deleteTask": ["412"],
}

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _config(token: str) -> Any:
    operations: list[dict[str, Any]] = [
        {
            "include-operation-id": operation_id,
            "checks": {"positive_data_acceptance": {"expected-statuses": extra}},
        }
        for operation_id, extra in STATE_DEPENDENT_REJECTIONS.items()
    ]
    for operation in operations:
        defaults = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
        statuses = operation["checks"]["positive_data_acceptance"]["expected-statuses"]
        operation["checks"]["positive_data_acceptance"]["expected-statuses"] = defaults + statuses
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
            "auth": {"openapi": {"OAuth2PasswordBearer": {"bearer": token}}},
            "operations": operations,
        }
    )


def test_every_operation_honours_its_schema(contract_app: FastAPI, bearer_token: str) -> None:
    """Every generated request gets a documented, schema-valid answer, by every check."""
    schema = contract_schema(contract_app, _config(bearer_token))
    failures: list[str] = []
    tested: set[str] = set()
    answered: set[tuple[str, str, int]] = set()
    checks: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        failures.extend(failure_lines(event))
        answered |= answered_statuses(event)
        checks |= checks_run(event)
        if (
            isinstance(event, events.ScenarioFinished)
            and event.status in (Status.SUCCESS, Status.FAILURE)
            and event.label
        ):
            tested.add(event.label)
    assert not failures, "\n".join(dict.fromkeys(failures))
    # status_code_conformance accepts what `default` covers; every status answered must be
    # declared by itself, so that a generated client has its typed parse.
    assert "status_code_conformance" in checks
    paths = contract_app.openapi()["paths"]
    undocumented = sorted(
        (method, path, status)
        for method, path, status in answered
        if str(status) not in paths[path][method]["responses"]
    )
    assert not undocumented, undocumented
    assert {status for _, _, status in answered} >= {200, 201, 204, 401, 404, 422}
    assert {
        "POST /api/v1/users",
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/refresh",
        "GET /api/v1/users/me",
        "POST /api/v1/tasks",
        "GET /api/v1/tasks",
        "GET /api/v1/tasks/{task_id}",
        "PATCH /api/v1/tasks/{task_id}",
        "DELETE /api/v1/tasks/{task_id}",
    } <= tested
