"""HTTP endpoints of tasks; every one requires a bearer token and sees only the caller's tasks."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from service.core.links import NEXT_LINK_HEADER, link_value, next_page_url
from service.core.openapi import (
    BEARER_CHALLENGE_HEADER,
    RETRY_AFTER_HEADER,
    header,
    merge_patch_body,
    problem_responses,
    with_headers,
    with_links,
)
from service.core.pagination import (
    CURSOR_PATTERN,
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
)
from service.core.security import BEARER_REQUIRED
from service.dependencies import ReadSessionDep, SettingsDep, WriteSessionDep
from service.domains.tasks import service as tasks_service
from service.domains.tasks.etags import task_etag
from service.domains.tasks.models import IDEMPOTENCY_KEY_MAX_LENGTH, TaskStatus
from service.domains.tasks.schemas import TaskCreate, TaskOut, TaskPage, TaskUpdate
from service.domains.users.dependencies import Claims, ClientAddress

router = APIRouter(prefix="/tasks", tags=["tasks"])

# Printable ASCII, no surrounding spaces (servers strip them).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Makes the POST safe to retry for 24 hours: the same key with the same body "
            "returns the first response (with `Idempotency-Replayed: true`) and creates "
            "nothing; the same key with another body is a 422."
        ),
        examples=["3f1d8c52-create-release-notes"],
    ),
]
TaskId = Annotated[uuid.UUID, Path(description="The task's id, as returned when it was created.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Proceed only if the task's current ETag is listed (or `*`); else 412.",
        examples=['"0b7e4c521f7a4a8e9a3c5d2f1e6b7c80-v3"'],
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="Answer 304 without a body if the task's current ETag is listed (or `*`).",
        examples=['"0b7e4c521f7a4a8e9a3c5d2f1e6b7c80-v3"'],
    ),
]

_ETAG = {"ETag": header("The strong entity-tag of the task version.")}
# OpenAPI links from a response that carries a task and its ETag to what a client
# does next with that very task; the writes name the version they saw in If-Match.
_THIS_TASK = {"task_id": "$response.body#/id"}
_THIS_VERSION = {**_THIS_TASK, "header.If-Match": "$response.header.ETag"}
_NEXT_ON_TASK = {
    "GetTask": {
        "operationId": "getTask",
        "parameters": _THIS_TASK,
        "description": "Read this task.",
    },
    "UpdateTask": {
        "operationId": "updateTask",
        "parameters": _THIS_VERSION,
        "description": "Change this version of the task.",
    },
    "DeleteTask": {
        "operationId": "deleteTask",
        "parameters": _THIS_VERSION,
        "description": "Delete this version of the task.",
    },
}
_COMMON = {401: BEARER_CHALLENGE_HEADER, 503: RETRY_AFTER_HEADER}
# The body is an RFC 7396 merge patch; plain application/json is accepted with the same meaning.
MERGE_PATCH_BODY = merge_patch_body("TaskUpdate")


def _etagged(response: Response, task: TaskOut) -> TaskOut:
    response.headers["ETag"] = task_etag(task.id, task.version)
    return task


@router.post(
    "",
    name="createTask",
    operation_id="createTask",
    openapi_extra=BEARER_REQUIRED,
    summary="Create a task",
    description=(
        "Creates a task owned by the caller. Send `Idempotency-Key` to make retries safe. "
        "Concurrent requests with the same key create one task; the others replay it or "
        "get 409 `idempotency_key_in_progress`."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    responses=with_links(
        with_headers(
            problem_responses(400, 401, 409, 422, 503),
            {
                **_COMMON,
                201: {
                    "Location": header("The path of the new task."),
                    **_ETAG,
                    "Idempotency-Replayed": header(
                        "`true` when this is the stored response of an earlier request.",
                        required=False,
                    ),
                },
                409: RETRY_AFTER_HEADER,
            },
        ),
        {201: _NEXT_ON_TASK},
    ),
)
async def create_task(
    *,
    payload: TaskCreate,
    claims: Claims,
    client: ClientAddress,
    session: WriteSessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskOut:
    """Create a task (at most once per Idempotency-Key and body)."""
    created = await tasks_service.create_task(
        session=session,
        claims=claims,
        payload=payload,
        idempotency_key=idempotency_key,
        client=client,
    )
    response.headers["Location"] = str(
        request.app.url_path_for("getTask", task_id=str(created.task.id))
    )
    if created.replayed:
        response.headers["Idempotency-Replayed"] = "true"
    return _etagged(response, created.task)


@router.get(
    "",
    name="listTasks",
    operation_id="listTasks",
    openapi_extra=BEARER_REQUIRED,
    summary="List tasks",
    description=(
        "The caller's tasks, newest first, optionally of one status. Follow `next` (or the "
        "`Link` header, or pass `next_cursor` as `cursor`) until it is null: every task is "
        "returned exactly once, even while tasks are added."
    ),
    response_model=TaskPage,
    responses=with_headers(problem_responses(401, 422, 503), {**_COMMON, 200: NEXT_LINK_HEADER}),
)
async def list_tasks(
    *,
    claims: Claims,
    client: ClientAddress,
    session: ReadSessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    status_filter: Annotated[
        TaskStatus | None, Query(alias="status", description="Only tasks with this status.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size, 1 to 100.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page; opaque and signed.",
            # Documented, not validated here: any cursor the service did not issue, of
            # whatever shape, is the same 422 invalid_cursor (the cursor codec decides).
            json_schema_extra={
                "minLength": 1,
                "maxLength": MAX_CURSOR_LENGTH,
                "pattern": CURSOR_PATTERN,
            },
        ),
    ] = None,
) -> TaskPage:
    """Return one page of the caller's tasks, linked to the next."""
    page = await tasks_service.list_tasks(
        session=session,
        settings=settings,
        claims=claims,
        status=status_filter,
        limit=limit,
        cursor=cursor,
        client=client,
    )
    if page.next_cursor is not None:
        page.next = next_page_url(request, page.next_cursor, keep=("status", "limit"))
        response.headers["Link"] = link_value(page.next, "next")
    return page


@router.get(
    "/{task_id}",
    name="getTask",
    operation_id="getTask",
    openapi_extra=BEARER_REQUIRED,
    summary="Read a task",
    description=(
        "The caller's task with its ETag. With `If-None-Match` naming the current ETag the "
        "answer is 304 without a body. Another user's task is a 404, like a missing one."
    ),
    response_model=TaskOut,
    responses=with_links(
        with_headers(
            {
                304: {"description": "Not Modified: the caller's copy is current"},
                **problem_responses(400, 401, 404, 422, 503),
            },
            {**_COMMON, 200: _ETAG, 304: _ETAG},
        ),
        {200: _NEXT_ON_TASK},
    ),
)
async def get_task(
    *,
    task_id: TaskId,
    claims: Claims,
    client: ClientAddress,
    session: ReadSessionDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> TaskOut | Response:
    """Return the task, or 304 when the caller's copy is current."""
    read = await tasks_service.get_task(
        session=session,
        claims=claims,
        task_id=task_id,
        client=client,
        if_none_match=if_none_match,
    )
    if read.not_modified:
        etag = task_etag(read.task.id, read.task.version)
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return _etagged(response, read.task)


@router.patch(
    "/{task_id}",
    name="updateTask",
    operation_id="updateTask",
    summary="Update a task",
    description=(
        "Changes only the fields sent; `null` clears `description` or `due_at`. With "
        "`If-Match` the change applies only to the named version (else 412, nothing changes)."
    ),
    response_model=TaskOut,
    responses=with_links(
        with_headers(problem_responses(400, 401, 404, 412, 422, 503), {**_COMMON, 200: _ETAG}),
        {200: _NEXT_ON_TASK},
    ),
    openapi_extra={**BEARER_REQUIRED, **MERGE_PATCH_BODY},
)
async def update_task(
    *,
    task_id: TaskId,
    changes: TaskUpdate,
    claims: Claims,
    client: ClientAddress,
    session: WriteSessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    """Apply a partial update and return the new version."""
    task = await tasks_service.update_task(
        session=session,
        claims=claims,
        task_id=task_id,
        changes=changes,
        if_match=if_match,
        client=client,
    )
    return _etagged(response, task)


@router.delete(
    "/{task_id}",
    name="deleteTask",
    operation_id="deleteTask",
    openapi_extra=BEARER_REQUIRED,
    summary="Delete a task",
    description="Deletes the caller's task; with `If-Match`, only the named version.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=with_headers(problem_responses(400, 401, 404, 412, 422, 503), _COMMON),
)
async def delete_task(
    *,
    task_id: TaskId,
    claims: Claims,
    client: ClientAddress,
    session: WriteSessionDep,
    if_match: IfMatch = None,
) -> None:
    """Delete the task."""
    await tasks_service.delete_task(
        session=session, claims=claims, task_id=task_id, if_match=if_match, client=client
    )
