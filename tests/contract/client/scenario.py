"""A client's whole flow through the generated `tasks_api_client` package, and nothing else.

Run by tests/contract/test_generated_client.py next to a freshly generated client (checked
with `mypy --strict` first): `python scenario.py BASE_URL FOREIGN_PROBLEM_URL`. Each step
prints one line; any surprise raises. Imports only the generated package and the standard
library, as a client application would.
"""

from __future__ import annotations

import sys
import uuid
from http import HTTPStatus
from typing import TypeVar

from tasks_api_client import AuthenticatedClient, Client
from tasks_api_client.api.auth import issue_token
from tasks_api_client.api.tasks import create_task, delete_task, get_task, list_tasks, update_task
from tasks_api_client.api.users import create_user
from tasks_api_client.models import (
    IssueTokenPasswordGrant,
    IssueTokenRefreshTokenGrant,
    IssueTokenRefreshTokenGrantGrantType,
    Problem,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskStatus,
    TaskUpdate,
    TokenPair,
    TokenProblem,
    TokenProblemError,
    UserCreate,
    UserOut,
)
from tasks_api_client.types import UNSET, Response

T = TypeVar("T")
PASSWORD = "correct horse battery"
# Over the 4 KiB body limit of the served contract runs, under the description's own limit.
OVERSIZED_DESCRIPTION = "d" * 6000


def expect(response: Response[Problem | T], status: HTTPStatus, kind: type[T]) -> T:
    """The parsed body of an answer with this status, of this type."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        raise AssertionError(f"expected {status} {kind.__name__}: {response.status_code} {parsed}")
    return parsed


def expect_token(response: Response[Problem | TokenPair | TokenProblem]) -> TokenPair:
    """The token pair of a successful token endpoint answer."""
    parsed = response.parsed
    if response.status_code != HTTPStatus.OK or not isinstance(parsed, TokenPair):
        raise AssertionError(f"expected 200 TokenPair: {response.status_code} {parsed}")
    return parsed


def expect_problem(response: Response[Problem | T], status: HTTPStatus) -> Problem:
    """The Problem of an error answer with this status."""
    problem = response.parsed
    if response.status_code != status or not isinstance(problem, Problem):
        raise AssertionError(f"expected a {status} Problem: {response.status_code} {problem}")
    if problem.status != status:
        raise AssertionError(f"problem status {problem.status} under HTTP {response.status_code}")
    return problem


def step(name: str, detail: object = "") -> None:
    """Report one finished step."""
    print(f"ok {name} {detail}".rstrip(), flush=True)


def main(base_url: str, foreign_url: str) -> None:
    """Register, log in, then create, read, change, list and delete tasks."""
    email = f"client-{uuid.uuid4().hex[:12]}@example.com"
    with Client(base_url=base_url) as anonymous:
        user = expect(
            create_user.sync_detailed(
                client=anonymous, body=UserCreate(email=email, password=PASSWORD)
            ),
            HTTPStatus.CREATED,
            UserOut,
        )
        step("register", user.id)
        tokens = expect_token(
            issue_token.sync_detailed(
                client=anonymous, body=IssueTokenPasswordGrant(username=email, password=PASSWORD)
            )
        )
        step("login", tokens.token_type)
        refresh = IssueTokenRefreshTokenGrant(
            grant_type=IssueTokenRefreshTokenGrantGrantType.REFRESH_TOKEN,
            refresh_token=tokens.refresh_token,
        )
        tokens = expect_token(issue_token.sync_detailed(client=anonymous, body=refresh))
        step("refresh-grant", tokens.token_type)
        refused = issue_token.sync_detailed(
            client=anonymous, body=IssueTokenPasswordGrant(username=email, password="not it at all")
        )
        problem = refused.parsed
        if refused.status_code != HTTPStatus.BAD_REQUEST or not isinstance(problem, TokenProblem):
            raise AssertionError(f"expected a 400 TokenProblem: {refused.status_code} {problem}")
        if problem.error is not TokenProblemError.INVALID_GRANT:
            raise AssertionError(f"expected invalid_grant: {problem.error}")
        step("wrong-password", problem.error.value)

    with AuthenticatedClient(base_url=base_url, token=tokens.access_token) as client:
        run_tasks(client)
    with AuthenticatedClient(base_url=foreign_url, token=tokens.access_token) as foreign:
        # A proxy's problem: {type, title, status} only, still a Problem.
        problem = expect(
            get_task.sync_detailed(uuid.uuid4(), client=foreign), HTTPStatus.BAD_GATEWAY, Problem
        )
        if (problem.title, problem.status, problem.code) != ("Bad Gateway", 502, UNSET):
            raise AssertionError(f"foreign problem parsed as {problem}")
        step("foreign-problem", problem.type_)


def run_tasks(client: AuthenticatedClient) -> None:
    """The tasks part of the flow, as the logged-in user."""
    key = f"scenario-{uuid.uuid4().hex}"
    body = TaskCreate(title="Write the release notes", status=TaskStatus.TODO)
    first = create_task.sync_detailed(client=client, body=body, idempotency_key=key)
    task = expect(first, HTTPStatus.CREATED, TaskOut)
    step("create-idempotent", task.id)
    replay = create_task.sync_detailed(client=client, body=body, idempotency_key=key)
    if expect(replay, HTTPStatus.CREATED, TaskOut).id != task.id:
        raise AssertionError("the replay created another task")
    if replay.headers.get("Idempotency-Replayed") != "true":
        raise AssertionError(f"replay not marked: {dict(replay.headers)}")
    step("replay", task.id)
    other = expect(
        create_task.sync_detailed(client=client, body=TaskCreate(title="No key")),
        HTTPStatus.CREATED,
        TaskOut,
    )
    step("create-without-key", other.id)

    etag = first.headers["ETag"]
    cached = get_task.sync_detailed(task.id, client=client, if_none_match=etag)
    if cached.status_code != HTTPStatus.NOT_MODIFIED or cached.headers["ETag"] != etag:
        raise AssertionError(f"expected 304: {cached.status_code}")
    step("not-modified", etag)

    changes = TaskUpdate(status=TaskStatus.IN_PROGRESS)
    updated = update_task.sync_detailed(task.id, client=client, body=changes, if_match=etag)
    if expect(updated, HTTPStatus.OK, TaskOut).version != task.version + 1:
        raise AssertionError("the update did not make a new version")
    step("patch-if-match", updated.headers["ETag"])
    stale = update_task.sync_detailed(task.id, client=client, body=changes, if_match=etag)
    step("stale-412", expect_problem(stale, HTTPStatus.PRECONDITION_FAILED).code)

    ids: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        page = expect(
            list_tasks.sync_detailed(client=client, limit=1, cursor=cursor or UNSET),
            HTTPStatus.OK,
            TaskPage,
        )
        ids.extend(item.id for item in page.items)
        if not isinstance(page.next_cursor, str):
            break
        cursor = page.next_cursor
    if sorted(ids) != sorted([task.id, other.id]):
        raise AssertionError(f"pages listed {ids}")
    step("paginated-list", len(ids))

    too_large = create_task.sync_detailed(
        client=client, body=TaskCreate(title="Too large", description=OVERSIZED_DESCRIPTION)
    )
    step("too-large-413", expect_problem(too_large, HTTPStatus.REQUEST_ENTITY_TOO_LARGE).code)

    current = updated.headers["ETag"]
    deleted = delete_task.sync_detailed(task.id, client=client, if_match=current)
    if deleted.status_code != HTTPStatus.NO_CONTENT:
        raise AssertionError(f"delete answered {deleted.status_code}")
    gone = get_task.sync_detailed(task.id, client=client)
    step("delete", expect_problem(gone, HTTPStatus.NOT_FOUND).code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
