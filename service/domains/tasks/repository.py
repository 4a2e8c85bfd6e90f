"""Queries of the tasks domain; the session belongs to the request."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    Exists,
    Integer,
    Select,
    bindparam,
    delete,
    exists,
    insert,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert

from service.core.pagination import Position
from service.db.errors import sqlstate_of
from service.db.repository import RepositoryBase
from service.db.types import utcnow
from service.domains.tasks.models import IdempotencyKey, Task, TaskStatus
from service.domains.users.models import User

# A concurrent claim waited too long for the holder's transaction: lock_not_available,
# query_canceled (statement_timeout).
_STILL_HELD_SQLSTATES = frozenset({"55P03", "57014"})
# The hottest query, built once: building the expression costs more than running
# the cached compiled form.
_GET_TASK = select(Task).where(
    Task.id == bindparam("task_id"), Task.owner_id == bindparam("owner_id")
)


# The tables, for the hot reads below: Core statements of the tables' columns load plain
# rows, without the ORM's per-row identity and state work (a read builds its response
# from the row and keeps no object).
_TASKS = Task.metadata.tables[Task.__tablename__]
_USERS = User.metadata.tables[User.__tablename__]

# An authenticated read in one statement: the task, only while its owner exists and still
# has the token version the caller's access token carries.
_GET_TASK_FOR_TOKEN = (
    select(*_TASKS.c)
    .select_from(_TASKS.join(_USERS, _USERS.c.id == _TASKS.c.owner_id))
    .where(
        _TASKS.c.id == bindparam("task_id"),
        _TASKS.c.owner_id == bindparam("owner_id"),
        _USERS.c.token_version == bindparam("token_version"),
    )
)


def _page_for_token(*, by_status: bool, after: bool) -> Select[Any]:
    # A page read in one statement that also answers for the caller: the owner's row,
    # only while it still has the token's version, outer-joined to the page (the keyset
    # read, with its own order and limit, so the index still serves it). No row: the
    # caller is gone or revoked. One row of no task (every column NULL): a valid
    # caller's empty page.
    columns = _TASKS.c
    tasks = select(*columns).where(columns.owner_id == bindparam("owner_id"))
    if by_status:
        tasks = tasks.where(columns.status == bindparam("status"))
    if after:
        position = tuple_(
            bindparam("after_created_at", type_=columns.created_at.type),
            bindparam("after_id", type_=columns.id.type),
        )
        tasks = tasks.where(tuple_(columns.created_at, columns.id) < position)
    page = (
        tasks.order_by(columns.created_at.desc(), columns.id.desc())
        .limit(bindparam("limit", type_=Integer()))
        .subquery("page")
    )
    return (
        select(*page.c)
        .select_from(_USERS.outerjoin(page, true()))
        .where(
            _USERS.c.id == bindparam("owner_id"),
            _USERS.c.token_version == bindparam("token_version"),
        )
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


# Built once, one per combination of the optional filters.
_PAGE_FOR_TOKEN = {
    (by_status, after): _page_for_token(by_status=by_status, after=after)
    for by_status in (False, True)
    for after in (False, True)
}


def _caller_holds(owner_id: Any, token_version: Any) -> Exists:
    # Whether the owner exists and still has the token's version: a write whose WHERE
    # includes this applies only for a valid caller, in the same statement.
    return exists().where(User.id == owner_id, User.token_version == token_version)


def _delete_for_token(*, if_version: bool) -> ReturningDelete[uuid.UUID]:
    # The write and the caller's checks in one statement (see `_caller_holds`).
    statement = delete(Task).where(
        Task.id == bindparam("task_id"),
        Task.owner_id == bindparam("owner_id"),
        _caller_holds(bindparam("owner_id"), bindparam("token_version")),
    )
    if if_version:
        statement = statement.where(Task.version.in_(bindparam("versions", expanding=True)))
    return statement.returning(Task.id)


# Built once, without and with the If-Match versions.
_DELETE_FOR_TOKEN = {
    if_version: _delete_for_token(if_version=if_version) for if_version in (False, True)
}


# Every column of a new task: the statement below runs no column defaults.
_NEW_TASK_COLUMNS = (
    "id",
    "owner_id",
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "created_at",
    "updated_at",
    "version",
)


def _insert_for_token() -> ReturningInsert[Any]:
    # A create in one statement that also checks the caller: the new row is selected
    # from the owner's user row, kept only while it has the token's version, so a gone
    # or revoked caller inserts nothing. Core, as the hot reads: the new row comes back
    # as a row of the task's columns.
    columns = _TASKS.c
    given = [name for name in _NEW_TASK_COLUMNS if name != "owner_id"]
    row = select(
        _USERS.c.id.label("owner_id"),
        *(bindparam(f"new_{name}", type_=columns[name].type).label(name) for name in given),
    ).where(
        _USERS.c.id == bindparam("caller_id"),
        _USERS.c.token_version == bindparam("token_version"),
    )
    return insert(_TASKS).from_select(["owner_id", *given], row).returning(*columns)


# Built once.
_INSERT_FOR_TOKEN = _insert_for_token()


class Claim(Enum):
    """The outcome of claiming an idempotency key."""

    CLAIMED = "claimed"  # this request holds the key now
    TAKEN = "taken"  # a committed row holds it: replay or reject
    BUSY = "busy"  # another request holds it and did not finish in time


class TaskRepository(RepositoryBase[Task]):
    """Reads and writes tasks, always scoped to their owner."""

    model = Task

    async def get(self, owner_id: uuid.UUID, task_id: uuid.UUID) -> Task | None:
        """The owner's task with this id, if any."""
        parameters = {"task_id": task_id, "owner_id": owner_id}
        return (await self.session.execute(_GET_TASK, parameters)).scalar_one_or_none()

    async def get_for_token(
        self, owner_id: uuid.UUID, token_version: int, task_id: uuid.UUID
    ) -> Row[Any] | None:
        """The owner's task as a row of its columns, if the owner exists and its tokens of
        this version are valid.

        None when any of the three does not hold; the caller tells them apart (a second
        query) only on that path.
        """
        parameters = {"task_id": task_id, "owner_id": owner_id, "token_version": token_version}
        result = await self.session.execute(_GET_TASK_FOR_TOKEN, parameters)
        return result.one_or_none()

    async def add_for_token(
        self, owner_id: uuid.UUID, token_version: int, fields: Mapping[str, Any]
    ) -> Row[Any] | None:
        """Insert a new task of these fields if the owner's tokens of this version are valid;
        the new task as a row of its columns.

        None, with nothing written, when the owner is gone or the version moved on.
        """
        now = utcnow()
        # The columns the model's defaults would fill in, as they would.
        values = {"id": uuid.uuid4(), "created_at": now, "updated_at": now, "version": 1}
        values.update(fields, owner_id=owner_id)
        parameters = {f"new_{name}": values[name] for name in _NEW_TASK_COLUMNS}
        parameters.update(caller_id=owner_id, token_version=token_version)
        result = await self.session.execute(_INSERT_FOR_TOKEN, parameters)
        row: Row[Any] | None = result.one_or_none()
        return row

    async def page_for_token(
        self,
        owner_id: uuid.UUID,
        token_version: int,
        *,
        status: TaskStatus | None,
        after: Position | None,
        limit: int,
    ) -> Sequence[Row[Any]] | None:
        """Like `page` (as rows of the task's columns), if the owner exists and its tokens of
        this version are valid; else None.

        An empty page of a valid caller is an empty sequence, not None.
        """
        parameters: dict[str, Any] = {
            "owner_id": owner_id,
            "token_version": token_version,
            "limit": limit,
        }
        if status is not None:
            parameters["status"] = status
        if after is not None:
            parameters["after_created_at"] = after.created_at
            parameters["after_id"] = after.id
        statement = _PAGE_FOR_TOKEN[status is not None, after is not None]
        rows = (await self.session.execute(statement, parameters)).all()
        if not rows:
            return None
        # The outer join's row of no task has no id.
        return [row for row in rows if row.id is not None]

    async def page(
        self,
        owner_id: uuid.UUID,
        *,
        status: TaskStatus | None,
        after: Position | None,
        limit: int,
    ) -> Sequence[Task]:
        """Up to `limit` tasks, newest first (created_at, id descending), after a position."""
        statement = select(Task).where(Task.owner_id == owner_id)
        if status is not None:
            statement = statement.where(Task.status == status)
        if after is not None:
            statement = statement.where(
                tuple_(Task.created_at, Task.id) < tuple_(after.created_at, after.id)
            )
        statement = statement.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def update(
        self,
        owner_id: uuid.UUID,
        task_id: uuid.UUID,
        values: Mapping[str, Any],
        *,
        token_version: int,
        expected_versions: Collection[int] | None,
    ) -> Task | None:
        """Apply changes and bump the version, only if the version is one of those expected.

        Only while the owner exists and its tokens of this version are valid. None when no
        row qualified (no such task, the version moved on, or the caller is not valid).
        """
        # Built per request: the columns set vary. The caller's checks are in its WHERE,
        # so that a change that applies costs one statement.
        statement = update(Task).where(
            Task.id == task_id, Task.owner_id == owner_id, _caller_holds(owner_id, token_version)
        )
        if expected_versions is not None:
            statement = statement.where(Task.version.in_(list(expected_versions)))
        statement = statement.values(**values, version=Task.version + 1).returning(Task)
        result = await self.session.execute(
            statement, execution_options={"synchronize_session": False, "populate_existing": True}
        )
        return result.scalar_one_or_none()

    async def delete(
        self,
        owner_id: uuid.UUID,
        task_id: uuid.UUID,
        *,
        token_version: int,
        expected_versions: Collection[int] | None,
    ) -> bool:
        """Delete the task if its version is one of those expected; whether a row went.

        Only while the owner exists and its tokens of this version are valid.
        """
        parameters: dict[str, Any] = {
            "task_id": task_id,
            "owner_id": owner_id,
            "token_version": token_version,
        }
        if expected_versions is not None:
            parameters["versions"] = list(expected_versions)
        statement = _DELETE_FOR_TOKEN[expected_versions is not None]
        result = await self.session.execute(
            statement, parameters, execution_options={"synchronize_session": False}
        )
        return result.scalar_one_or_none() is not None


class IdempotencyRepository(RepositoryBase[IdempotencyKey]):
    """Idempotency keys per owner: claims, stored responses, expiry."""

    model = IdempotencyKey

    async def claim(
        self, owner_id: uuid.UUID, key: str, fingerprint: str, *, now: datetime, ttl: timedelta
    ) -> Claim:
        """Insert the key row, or take over an expired one.

        On PostgreSQL a concurrent claim of the same key waits here until the holder's
        transaction ends, then sees its committed row (or takes the key if it rolled back);
        BUSY when that wait outlasts the statement timeout.
        """
        proposed = IdempotencyKey(
            owner_id=owner_id,
            key=key,
            request_fingerprint=fingerprint,
            created_at=now,
            expires_at=now + ttl,
        )
        statement = self.insert_on_conflict(
            proposed,
            conflict=[IdempotencyKey.owner_id, IdempotencyKey.key],
            update=[
                "id",
                "request_fingerprint",
                "response_status",
                "response_body",
                "created_at",
                "expires_at",
            ],
            where=IdempotencyKey.expires_at <= now,
        ).returning(IdempotencyKey.id)
        try:
            claimed = (await self.session.execute(statement)).scalar_one_or_none()
        except DBAPIError as error:
            if sqlstate_of(error) in _STILL_HELD_SQLSTATES:
                return Claim.BUSY
            raise
        return Claim.CLAIMED if claimed is not None else Claim.TAKEN

    async def get(self, owner_id: uuid.UUID, key: str) -> IdempotencyKey | None:
        """The key row of an owner, if any (fresh from the database)."""
        statement = (
            select(IdempotencyKey)
            .where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def store_response(
        self,
        owner_id: uuid.UUID,
        key: str,
        *,
        status: int,
        body: dict[str, Any],
    ) -> None:
        """Record the response of the request that holds the key."""
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
            .values(response_status=status, response_body=body),
            execution_options={"synchronize_session": False},
        )
