"""RFC 9457 problem+json, the one error shape of every layer: its model, body and responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeAlias, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema
from starlette.types import Scope, Send

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://tasks-api.dev/problems/"

T = TypeVar("T")
# A member that may be absent; the schema shows only its type (never `null`).
Absent: TypeAlias = T | SkipJsonSchema[None]


class FieldError(BaseModel):
    """One invalid input field."""

    loc: list[str | int] = Field(examples=[["body", "title"]])
    field: str = Field(examples=["title"])
    message: str = Field(examples=["String should have at least 1 character"])
    type: str = Field(examples=["string_too_short"])


def _only_rfc_requirements(schema: JsonDict) -> None:
    # RFC 9457 requires no member: a problem from a proxy or the platform carries
    # only some of them. `None` defaults mean "not sent" and are not advertised.
    schema.pop("required", None)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for member in properties.values():
            if isinstance(member, dict) and member.get("default", "") is None:
                del member["default"]


class Problem(BaseModel):
    """An RFC 9457 problem details document (ours carry `code` and the request id)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_only_rfc_requirements)

    type: str = Field(
        default="about:blank",
        description="A URI naming the problem type.",
        examples=[f"{PROBLEM_TYPE_BASE}not-found"],
    )
    title: Absent[str] = Field(default=None, examples=["Not Found"])
    status: Absent[int] = Field(default=None, examples=[404])
    detail: Absent[str] = Field(default=None, examples=["No route matches /api/v1/nothing."])
    instance: Absent[str] = Field(default=None, examples=["/api/v1/nothing"])
    code: Absent[str] = Field(
        default=None,
        description="Extension: the machine-readable problem code of tasks-api.",
        examples=["not_found"],
    )
    request_id: str | None = Field(
        default=None,
        description="Extension: the request id (also in `X-Request-ID`).",
        examples=["1f0c2b8e5d6a4c4e9d1f6e0b2a3c4d5e"],
    )
    retry_after: Absent[int] = Field(
        default=None,
        description="Extension: seconds to wait before retrying (as `Retry-After`).",
        examples=[120],
    )
    errors: Absent[list[FieldError]] = Field(
        default=None, description="Extension: the invalid fields of a 422."
    )
    checks: Absent[dict[str, str]] = Field(
        default=None,
        description="Extension: every readiness check and its state (503 of /readyz).",
        examples=[{"database": "unavailable", "schema": "unknown"}],
    )


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


async def send_problem(
    send: Send,
    scope: Scope,
    status: int,
    code: str,
    detail: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Send a complete problem+json response from ASGI middleware."""
    body = problem_body(
        status=status,
        code=code,
        detail=detail,
        instance=scope.get("path", ""),
        request_id=request_id_of(scope),
        extra=extra,
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
