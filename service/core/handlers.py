"""The exception handlers that turn every known error into problem+json, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.core.errors import AppError
from service.core.openapi import MERGE_PATCH_JSON
from service.core.problem import problem_response
from service.db.errors import driver_cause, is_database_unavailable

RETRY_AFTER_SECONDS = 5

log = structlog.get_logger("service.errors")

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
_FASTAPI_UNPARSEABLE_BODY = "There was an error parsing the body"
# What a PATCH body may be (RFC 7396 merge patch, or plain JSON with the same meaning).
PATCH_MEDIA_TYPES = (MERGE_PATCH_JSON, "application/json")
_HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every known error into problem+json."""
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(AppError, _on_app_error)
    # What the pool and the driver raise; anything else is a defect, which the outer
    # middleware logs and answers with a generic 500.
    app.add_exception_handler(PoolTimeoutError, _on_database_error)
    app.add_exception_handler(DBAPIError, _on_database_error)


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
    elif status == 400 and exc.detail == _FASTAPI_UNPARSEABLE_BODY:
        # Bytes that are no UTF-8, or a form that does not parse.
        return _malformed_body(request)
    else:
        detail = str(exc.detail)
    code = _HTTP_CODES.get(status, "http_error")
    headers = exc.headers
    if status == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(request, status=status, code=code, detail=detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names only the first route matching the path; one path can have
    # several routes (GET and POST /tasks), so ask every route about every method.
    allowed = []
    for method in _HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    if "GET" in allowed and "HEAD" not in allowed:
        # HeadMiddleware answers HEAD wherever GET is answered.
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(error.get("type") == "json_invalid" for error in raw):
        return _malformed_body(request)
    if any(
        error.get("loc") == ("body",) and isinstance(error.get("input"), bytes) for error in raw
    ):
        # FastAPI hands the model the raw bytes when the media type is not JSON.
        return _unsupported_media_type(request)
    errors = _field_errors(raw)
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        detail=f"The request is invalid: {fields}.",
        extra={"errors": errors},
    )


def _malformed_body(request: Request) -> JSONResponse:
    return problem_response(
        request,
        status=400,
        code="malformed_body",
        detail="The request body cannot be parsed: it must be well-formed JSON in UTF-8.",
    )


def _unsupported_media_type(request: Request) -> JSONResponse:
    if request.method == "PATCH":
        # RFC 5789 §2.2: a 415 to a PATCH names the patch formats the resource accepts.
        accepted = ", ".join(PATCH_MEDIA_TYPES)
        headers = {"Accept-Patch": accepted}
    else:
        accepted, headers = "application/json", {}
    return problem_response(
        request,
        status=415,
        code="unsupported_media_type",
        detail=f"The request body must be sent as {accepted} (Content-Type).",
        headers=headers,
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


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_unavailable(exc):
        # Any other database error is a defect; the outer middleware logs it and answers 500.
        raise exc
    # The driver's message can carry SQL and parameters: log the class names only.
    log.warning(
        "database_unavailable", error=type(exc).__name__, cause=type(driver_cause(exc)).__name__
    )
    return problem_response(
        request,
        status=503,
        code="database_unavailable",
        detail="The database is unavailable or timed out; retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
