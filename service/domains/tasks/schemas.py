"""Request and response bodies of the tasks endpoints."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from service.core.validation import (
    NUL_FREE_PATTERN,
    VISIBLE_TEXT_PATTERN,
    VISIBLE_TEXT_SCHEMA,
    StrictInput,
    UtcTimestamp,
    strip_text,
)
from service.domains.tasks.models import (
    DESCRIPTION_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TaskPriority,
    TaskStatus,
)

Title = Annotated[
    str,
    BeforeValidator(strip_text),
    Field(
        min_length=1,
        max_length=TITLE_MAX_LENGTH,
        pattern=VISIBLE_TEXT_PATTERN,
        json_schema_extra=VISIBLE_TEXT_SCHEMA,
        description=(
            "Trimmed; 1 to 200 characters, at least one of them visible (spaces and "
            "invisible format characters such as U+200B do not count)."
        ),
        examples=["Write the release notes"],
    ),
]
Description = Annotated[
    str,
    Field(
        max_length=DESCRIPTION_MAX_LENGTH,
        pattern=NUL_FREE_PATTERN,
        description="Up to 10,000 characters.",
        examples=["Cover the migration steps and the new alerts."],
    ),
]
# Request bodies arrive as parsed JSON, so enums are validated from their string values.
Status = Annotated[TaskStatus, Field(strict=False)]
Priority = Annotated[TaskPriority, Field(strict=False)]
DueAt = Annotated[
    UtcTimestamp,
    Field(description="RFC 3339 date-time with an offset; returned in UTC."),
]


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out but not null")
    return value


T = TypeVar("T")
# A field that may be left out (None: not sent) but not sent as `null`; the schema shows
# only the type itself. At run time the field's type is T alone: pydantic never validates
# the None default, and a wrong value gets one error at the field's own location (a
# `T | None` union would add the None member's error and name pydantic's union members
# in `loc`). Type checkers see the None that "not sent" leaves in the attribute.
if TYPE_CHECKING:
    NotNull = Annotated[T | None, BeforeValidator(_refuse_null)]
else:
    NotNull = Annotated[T, BeforeValidator(_refuse_null)]

_CREATE_EXAMPLE: JsonDict = {
    "title": "Write the release notes",
    "description": "Cover the migration steps and the new alerts.",
    "status": "todo",
    "priority": "high",
    "due_at": "2026-12-01T17:00:00+01:00",
}
_TASK_EXAMPLE: JsonDict = {
    "id": "0b7e4c52-1f7a-4a8e-9a3c-5d2f1e6b7c80",
    "title": "Write the release notes",
    "description": "Cover the migration steps and the new alerts.",
    "status": "todo",
    "priority": "high",
    "due_at": "2026-12-01T16:00:00Z",
    "created_at": "2026-11-22T09:30:12.123456Z",
    "updated_at": "2026-11-22T09:30:12.123456Z",
    "version": 1,
}


_CURSOR_EXAMPLE = "MTc5NDMwMDIxMjEyMzQ1NjowYjdlNGM1Mg.3q2-7wAAAAAAAAAAAAAAAA"
# FastAPI drops null members from examples; the example is a page with a next one.
_PAGE_EXAMPLE: JsonDict = {
    "items": [_TASK_EXAMPLE],
    "next_cursor": _CURSOR_EXAMPLE,
    "next": f"/api/v1/tasks?limit=1&cursor={_CURSOR_EXAMPLE}",
}


class TaskCreate(StrictInput):
    """A new task; only the title is required."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    title: Title
    description: Description | None = None
    status: Status = TaskStatus.TODO
    priority: Priority = TaskPriority.NORMAL
    due_at: DueAt | None = None


def _as_if_not_optional(schema: JsonDict) -> None:
    # The None defaults only mean "not sent"; advertising them would invite `null`. A
    # reference keeps no title, as for a field declared with its type alone.
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for field in properties.values():
            if isinstance(field, dict) and "default" in field and field["default"] is None:
                del field["default"]
            if isinstance(field, dict) and "$ref" in field:
                field.pop("title", None)
    schema["examples"] = [{"status": "in_progress", "due_at": None}]


class TaskUpdate(StrictInput):
    """A partial update: only the fields sent change; `null` clears description or due_at."""

    model_config = ConfigDict(json_schema_extra=_as_if_not_optional)

    # None stands for "not sent" (only the fields sent are applied); description and
    # due_at may be cleared with `null`, the others may not.
    title: NotNull[Title] = None
    description: Description | None = None
    status: NotNull[Status] = None
    priority: NotNull[Priority] = None
    due_at: DueAt | None = None


class TaskOut(BaseModel):
    """A task as the API returns it; times are UTC with `Z`."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_TASK_EXAMPLE]})

    id: uuid.UUID
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    due_at: UtcTimestamp | None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    version: int = Field(ge=1, description="Grows by one on every change.")


class TaskPage(BaseModel):
    """One page of tasks, newest first, with the cursor and link of the next (null on the last)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PAGE_EXAMPLE]})

    items: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page.",
        examples=[_CURSOR_EXAMPLE],
    )
    next: str | None = Field(
        default=None,
        description=(
            'The next page\'s path and query (also in the `Link` header, `rel="next"`); '
            "null on the last page."
        ),
        examples=[f"/api/v1/tasks?limit=50&cursor={_CURSOR_EXAMPLE}"],
    )
