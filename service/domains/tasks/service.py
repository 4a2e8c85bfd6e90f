"""Tasks: create (optionally idempotent), list by keyset, read, update and delete with ETags."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.core.pagination import CursorCodec, InvalidCursorError, Position
from service.core.security import AccessClaims, derive_key
from service.db.session import WriteSession
from service.domains.tasks import idempotency
from service.domains.tasks.errors import PreconditionFailedError, TaskNotFoundError
from service.domains.tasks.etags import TooManyEntityTagsError, parse_precondition
from service.domains.tasks.models import Task, TaskStatus
from service.domains.tasks.repository import TaskRepository
from service.domains.tasks.schemas import TaskCreate, TaskOut, TaskPage, TaskUpdate
from service.domains.users import service as users_service
from service.telemetry import events

CURSOR_KEY_PURPOSE = "tasks-api/task-list-cursor"


@dataclass(frozen=True)
class Created:
    """A created (or replayed) task."""

    task: TaskOut
    replayed: bool


@dataclass(frozen=True)
class Read:
    """A task read, and whether the caller's If-None-Match already names its version."""

    task: TaskOut
    not_modified: bool


def _not_found(task_id: uuid.UUID) -> TaskNotFoundError:
    return TaskNotFoundError(f"No task {task_id} exists for you.")


def cursor_codec(settings: Settings) -> CursorCodec:
    """The codec of task-list cursors, keyed from the JWT secret."""
    return CursorCodec(derive_key(settings, CURSOR_KEY_PURPOSE))


async def _insert(session: WriteSession, owner_id: uuid.UUID, payload: TaskCreate) -> TaskOut:
    task = Task(owner_id=owner_id, **payload.model_dump())
    await TaskRepository(session).add(task)
    events.task_created()
    return TaskOut.model_validate(task)


async def _insert_for_token(
    session: WriteSession, claims: AccessClaims, client: str | None, payload: TaskCreate
) -> TaskOut:
    tasks = TaskRepository(session)
    fields = payload.model_dump()
    task: Row[Any] | Task | None = await tasks.add_for_token(
        claims.subject, claims.token_version, fields
    )
    if task is None:
        await users_service.current_user(session=session, claims=claims, client=client)
        # Found valid after all: not expected (see list_tasks); inserted as before.
        task = await tasks.add(Task(owner_id=claims.subject, **fields))
    events.task_created()
    return TaskOut.model_validate(task)


async def create_task(
    *,
    session: WriteSession,
    claims: AccessClaims,
    payload: TaskCreate,
    idempotency_key: str | None = None,
    client: str | None = None,
) -> Created:
    """Create a task; with an Idempotency-Key, at most once per key and body for 24 hours.

    Without a key, the insert and the caller's checks are one statement. With one, the
    caller is checked first: a gone or revoked caller never claims a key nor replays.
    """
    if idempotency_key is None:
        task = await _insert_for_token(session, claims, client, payload)
        return Created(task=task, replayed=False)
    user = await users_service.current_user(session=session, claims=claims, client=client)
    outcome = await idempotency.create_once(
        session=session,
        owner_id=user.id,
        key=idempotency_key,
        request_fingerprint=idempotency.fingerprint("createTask", payload),
        create=lambda: _insert(session, user.id, payload),
    )
    return Created(task=outcome.task, replayed=outcome.replayed)


async def list_tasks(
    *,
    session: AsyncSession,
    settings: Settings,
    claims: AccessClaims,
    status: TaskStatus | None,
    limit: int,
    cursor: str | None,
    client: str | None = None,
) -> TaskPage:
    """One page of the caller's tasks, newest first, and the cursor of the next page.

    One statement checks the caller (the user exists, its tokens of this version are
    valid) and reads the page, an empty one included. Only a caller who is gone or
    revoked costs a second statement, which raises the same 401 as on every route; so
    does a rejected cursor, which stays a 401 rather than a 422 for such a caller.
    """
    codec = cursor_codec(settings)
    try:
        after = codec.decode(cursor) if cursor is not None else None
    except InvalidCursorError:
        await users_service.current_user(session=session, claims=claims, client=client)
        raise
    tasks = TaskRepository(session)
    page = await tasks.page_for_token(
        claims.subject, claims.token_version, status=status, after=after, limit=limit + 1
    )
    rows: Sequence[Row[Any]] | Sequence[Task]
    if page is None:
        await users_service.current_user(session=session, claims=claims, client=client)
        # Found valid after all: token versions only grow and ids are never reused, so
        # this is not expected; the page is read as it was before the caller was joined.
        rows = await tasks.page(claims.subject, status=status, after=after, limit=limit + 1)
    else:
        rows = page
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = codec.encode(Position(created_at=last.created_at, id=last.id))
    return TaskPage(items=[TaskOut.model_validate(row) for row in items], next_cursor=next_cursor)


async def get_task(
    *,
    session: AsyncSession,
    claims: AccessClaims,
    task_id: uuid.UUID,
    client: str | None = None,
    if_none_match: str | None = None,
) -> Read:
    """The caller's task; `not_modified` when If-None-Match names its current version.

    One statement checks the caller (the user exists, its tokens of this version are
    valid) and reads the task. Only when it finds nothing does a second one tell a
    missing task (404) from a caller who is gone or revoked (401, as on every route).
    """
    task = await TaskRepository(session).get_for_token(
        claims.subject, claims.token_version, task_id
    )
    if task is None:
        await users_service.current_user(session=session, claims=claims, client=client)
        raise _not_found(task_id)
    precondition = parse_precondition(if_none_match)
    not_modified = precondition is not None and (
        precondition.any_version
        or task.version in precondition.versions_of(task.id, strong_only=False)
    )
    return Read(task=TaskOut.model_validate(task), not_modified=not_modified)


async def _expected_versions(
    session: AsyncSession,
    claims: AccessClaims,
    client: str | None,
    task_id: uuid.UUID,
    if_match: str | None,
) -> set[int] | None:
    try:
        precondition = parse_precondition(if_match)
    except TooManyEntityTagsError:
        # A gone or revoked caller is answered 401 before anything it sent is judged.
        await users_service.current_user(session=session, claims=claims, client=client)
        raise
    if precondition is None or precondition.any_version:
        return None
    return precondition.versions_of(task_id, strong_only=True)


async def _why_nothing_applied(
    session: AsyncSession, claims: AccessClaims, client: str | None, task_id: uuid.UUID
) -> TaskNotFoundError | PreconditionFailedError:
    # A write checks the caller in its own statement; when it applied to no row, tell
    # them apart in the order the answers always had: 401, then 404, then 412.
    await users_service.current_user(session=session, claims=claims, client=client)
    if await TaskRepository(session).get(claims.subject, task_id) is None:
        return _not_found(task_id)
    return PreconditionFailedError("If-Match does not name the task's current version.")


async def update_task(
    *,
    session: WriteSession,
    claims: AccessClaims,
    task_id: uuid.UUID,
    changes: TaskUpdate,
    if_match: str | None = None,
    client: str | None = None,
) -> TaskOut:
    """Apply the fields sent; with If-Match, only if it names the current version.

    The change and the caller's checks (the user exists, its tokens of this version are
    valid) are one statement; only a change that applies to no row costs more.
    """
    expected = await _expected_versions(session, claims, client, task_id, if_match)
    values = changes.model_dump(exclude_unset=True)
    tasks = TaskRepository(session)
    if not values:
        current = await tasks.get_for_token(claims.subject, claims.token_version, task_id)
        if current is None:
            await users_service.current_user(session=session, claims=claims, client=client)
            raise _not_found(task_id)
        if expected is not None and current.version not in expected:
            raise PreconditionFailedError("If-Match does not name the task's current version.")
        return TaskOut.model_validate(current)
    updated = await tasks.update(
        claims.subject,
        task_id,
        values,
        token_version=claims.token_version,
        expected_versions=expected,
    )
    if updated is None:
        raise await _why_nothing_applied(session, claims, client, task_id)
    return TaskOut.model_validate(updated)


async def delete_task(
    *,
    session: WriteSession,
    claims: AccessClaims,
    task_id: uuid.UUID,
    if_match: str | None = None,
    client: str | None = None,
) -> None:
    """Delete the caller's task; with If-Match, only if it names the current version.

    The delete and the caller's checks are one statement, as for an update.
    """
    expected = await _expected_versions(session, claims, client, task_id, if_match)
    deleted = await TaskRepository(session).delete(
        claims.subject, task_id, token_version=claims.token_version, expected_versions=expected
    )
    if not deleted:
        raise await _why_nothing_applied(session, claims, client, task_id)
