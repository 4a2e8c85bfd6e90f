"""Tables of the tasks domain: tasks and stored idempotent responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import UtcDateTime, same_as_created_at, str_enum, utcnow

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class TaskStatus(StrEnum):
    """Where a task stands."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TaskPriority(StrEnum):
    """How urgent a task is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def _one_of(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


class Task(Base):
    """A user's task; `version` grows on every change and backs the ETag."""

    __tablename__ = "task"
    __table_args__ = (
        # The list query: one owner's tasks, newest first, filtered by status.
        Index(None, "owner_id", "created_at", "id"),
        CheckConstraint(_one_of("status", TaskStatus), name="status"),
        CheckConstraint(_one_of("priority", TaskPriority), name="priority"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Typed here, not only through the foreign key: statements built at import (such as
    # the repository's cached ones) must not depend on which table was imported first.
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("app_user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, 16))
    priority: Mapped[TaskPriority] = mapped_column(str_enum(TaskPriority, 16))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=same_as_created_at, onupdate=utcnow
    )
    version: Mapped[int] = mapped_column(Integer, default=1)


class IdempotencyKey(Base):
    """A POST's Idempotency-Key for one user: request fingerprint and the stored response.

    `response_status` is NULL while the first request is in flight; the row is written in
    the same transaction as the task, so a failed request leaves no row behind.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("owner_id", "key"), Index(None, "expires_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
