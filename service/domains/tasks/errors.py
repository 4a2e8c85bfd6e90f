"""Errors of the tasks domain; each becomes problem+json with its code."""

from __future__ import annotations

from service.core.errors import AppError


class TaskNotFoundError(AppError):
    """No task with this id belongs to the caller (another user's task looks the same)."""

    status = 404
    code = "task_not_found"
    title = "Task Not Found"


class PreconditionFailedError(AppError):
    """If-Match named a version that is no longer current."""

    status = 412
    code = "precondition_failed"
    title = "Precondition Failed"


class IdempotencyKeyReusedError(AppError):
    """The Idempotency-Key was already used with a different request body."""

    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency Key Reused"


class IdempotencyKeyInProgressError(AppError):
    """A request with the same Idempotency-Key is still being processed."""

    status = 409
    code = "idempotency_key_in_progress"
    title = "Idempotency Key In Progress"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry shortly.",
            headers={"Retry-After": "1"},
        )
