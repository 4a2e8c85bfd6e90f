"""The errors the service raises on purpose; each becomes problem+json with its status and code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.exceptions import HTTPException as StarletteHTTPException


class AppError(Exception):
    """Base of every error the service raises on purpose; subclasses set the class vars."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class PayloadTooLarge(StarletteHTTPException):
    """The request body exceeds the configured limit (raised while the body is read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")
