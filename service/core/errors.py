"""RFC 9457 problem+json: one error shape for every layer, produced in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://tasks-api.dev/problems/"
RETRY_AFTER_SECONDS = 5

log = structlog.get_logger("service.errors")


class FieldError(BaseModel):
    """One invalid input field."""

    loc: list[str | int] = Field(examples=[["body", "title"]])
    field: str = Field(examples=["title"])
    message: str = Field(examples=["String should have at least 1 character"])
    type: str = Field(examples=["string_too_short"])


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[f"{PROBLEM_TYPE_BASE}not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No route matches /api/v1/nothing."])
    instance: str = Field(examples=["/api/v1/nothing"])
    code: str = Field(examples=["not_found"])
    request_id: str | None = Field(default=None, examples=["1f0c2b8e5d6a4c4e9d1f6e0b2a3c4d5e"])
    errors: list[FieldError] | None = None


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


class ServiceUnavailableError(AppError):
    """A dependency (the database) is unavailable or timed out."""

    status = 503
    code = "service_unavailable"
    title = "Service Unavailable"


class PayloadTooLarge(StarletteHTTPException):
    """The request body exceeds the configured limit (raised while the body is read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    """The request id the middleware stored in the ASGI scope."""
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    instance: str,
    request_id: str | None,
    title: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the problem+json document for a status and code."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": request_id,
    }
    body.update(extra or {})
    return body


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response for the current request."""
    body = problem_body(
        status=status,
        code=code,
        detail=detail,
        title=title,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        extra=extra,
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    result = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if isinstance(part, str | int)]
        named = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
        result.append(
            {
                "loc": loc,
                "field": ".".join(named) or "body",
                "message": str(error.get("msg", "Invalid value")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return result


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404 and exc.detail == "Not Found":
        detail = f"No route matches {request.url.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    else:
        detail = str(exc.detail)
    code = _HTTP_CODES.get(status, "http_error")
    headers = exc.headers
    if status == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(request, status=status, code=code, detail=detail, headers=headers)


_HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names only the first route matching the path; one path can have
    # several routes (GET and POST /tasks), so ask every route about every method.
    allowed = []
    for method in _HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc.errors())
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        detail=f"The request is invalid: {fields}.",
        extra={"errors": errors},
    )


async def _on_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The driver's message can carry SQL and parameters: log the class names only.
    orig = getattr(exc, "orig", None)
    log.warning(
        "database_unavailable",
        error=type(exc).__name__,
        cause=type(orig).__name__ if orig is not None else None,
    )
    return problem_response(
        request,
        status=503,
        code="database_unavailable",
        detail="The database is unavailable or timed out; retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether an exception means the database could not be reached or answered too late."""
    if isinstance(exc, OperationalError) and _is_sqlite_error(exc.orig):
        # SQLite reports missing tables as OperationalError too: only these are outages.
        return any(sign in str(exc.orig).lower() for sign in _SQLITE_UNAVAILABLE)
    if isinstance(exc, PoolTimeoutError | OperationalError | InterfaceError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        name = type(orig).__name__ if orig is not None else ""
        # SQLAlchemy's asyncpg adapter may wrap driver errors in generic classes: the
        # SQLSTATE says what happened (08xxx connection exceptions, cancellations).
        sqlstate = str(getattr(orig, "sqlstate", None) or "")
        return (
            exc.connection_invalidated
            or name in _UNAVAILABLE_DRIVER_ERRORS
            or sqlstate in _UNAVAILABLE_SQLSTATES
            or sqlstate.startswith("08")
        )
    return isinstance(exc, ConnectionError | OSError)


_SQLITE_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "is full")


def _is_sqlite_error(orig: BaseException | None) -> bool:
    return orig is not None and type(orig).__module__.startswith("sqlite3")


# 57014 query_canceled (statement_timeout), 57P01-03 shutdown / cannot connect now,
# 53300 too_many_connections, 55P03 lock_not_available (lock_timeout).
_UNAVAILABLE_SQLSTATES = frozenset({"57014", "57P01", "57P02", "57P03", "53300", "55P03"})

_UNAVAILABLE_DRIVER_ERRORS = frozenset(
    {
        "QueryCanceledError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "InterfaceError",
        "InternalClientError",
    }
)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every known error into problem+json."""
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(PoolTimeoutError, _on_database_unavailable)
    app.add_exception_handler(DBAPIError, _on_database_unavailable_or_bug)
    app.add_exception_handler(TimeoutError, _on_database_unavailable)
    app.add_exception_handler(ConnectionError, _on_database_unavailable)


async def _on_database_unavailable_or_bug(request: Request, exc: Exception) -> JSONResponse:
    if is_database_unavailable(exc):
        return await _on_database_unavailable(request, exc)
    # Any other database error is a defect; the outer middleware logs it and answers 500.
    raise exc


# `model` registers the Problem component (FastAPI files it under application/json);
# the problem+json entry, the media type actually sent, refers to the same schema.
def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "Invalid input", "content": _problem_content()},
    503: {
        "model": Problem,
        "description": "The database is unavailable or timed out",
        "content": _problem_content(),
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response entries (problem+json) for the given statuses."""
    result: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        result[status] = {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": _problem_content(),
        }
    return result
