"""Errors of the drill endpoints; each becomes problem+json with its code."""

from __future__ import annotations

from service.core.errors import AppError
from service.core.security import BEARER_CHALLENGE
from service.drills.model import Drill, DrillOut


class OperatorTokenError(AppError):
    """No operator token, or not the right one."""

    status = 401
    code = "drill_token_invalid"
    title = "Operator Token Required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": f'{BEARER_CHALLENGE} realm="drills"'})


class DrillActiveError(AppError):
    """A drill of the same kind is already running on this pod."""

    status = 409
    code = "drill_active"
    title = "Drill Already Running"

    def __init__(self, active: Drill) -> None:
        super().__init__(
            f"A {active.kind} drill ({active.id}) runs until it ends or is stopped; "
            f"stop it first with DELETE /drills/{active.id}.",
            extra={"active": DrillOut.of(active).model_dump(mode="json")},
        )


class DrillNotFoundError(AppError):
    """No running drill has this id (it never existed, ended or expired)."""

    status = 404
    code = "drill_not_found"
    title = "Drill Not Found"

    def __init__(self, drill_id: str) -> None:
        super().__init__(f"No drill {drill_id} is running on this pod; it may have ended.")
