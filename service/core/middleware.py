"""Pure ASGI middleware: request id and access log, security headers, body limit."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import PayloadTooLarge
from service.core.problem import PROBLEM_JSON, problem_body, request_id_of, send_problem

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")
PROBE_PATHS = frozenset({"/healthz", "/readyz"})

access_log = structlog.get_logger("service.access")
error_log = structlog.get_logger("service.errors")


def accept_request_id(value: str | None) -> str:
    """The caller's request id when it is short and safe, otherwise a new one."""
    if value is not None and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


_ROUTE_TEMPLATE = "tasks_api.route_template"


def route_template(scope: Scope) -> str | None:
    """The full path template of the route the request matches (never the raw path).

    Matching walks the routes, so the answer is kept in the scope: the metrics
    middleware and the access line ask for it once each per request.
    """
    if scope.get("type") != "http" or "app" not in scope:
        return None
    if _ROUTE_TEMPLATE not in scope:
        scope[_ROUTE_TEMPLATE] = get_route_name(Request(scope), should_include_root_path=False)
    template: str | None = scope[_ROUTE_TEMPLATE]
    return template


class RequestContextMiddleware:
    """Request id, one access line per request, and the last-resort 500 answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_id = headers.get(REQUEST_ID_HEADER.encode())
        request_id = accept_request_id(raw_id.decode("latin-1") if raw_id else None)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_log.error(
                "unhandled_exception",
                method=scope.get("method"),
                route=route_template(scope),
                exc_info=exc,
            )
            status = 500
            if not response_started:
                await send_problem(
                    send_with_id,
                    scope,
                    500,
                    "internal_error",
                    "An unexpected error occurred; it has been logged with this request id.",
                )
        finally:
            self._log_access(scope, status, started, request_id)
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _log_access(scope: Scope, status: int, started: float, request_id: str) -> None:
        path = scope.get("path", "")
        client = scope.get("client")
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "route": route_template(scope),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": request_id,
            "client": f"{client[0]}:{client[1]}" if client else None,
        }
        if path in PROBE_PATHS:
            access_log.debug("request", **fields)
        else:
            access_log.info("request", **fields)


class SecurityHeadersMiddleware:
    """Security headers on every response; API responses are no-store unless they carry an ETag.

    With `hsts_max_age`, also Strict-Transport-Security: for deployments whose TLS ends
    in front of the service (browsers honour it only over HTTPS).
    """

    def __init__(
        self, app: ASGIApp, api_prefix: str = "/api/", hsts_max_age: int | None = None
    ) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.hsts = None if hsts_max_age is None else f"max-age={hsts_max_age}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith(self.api_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if self.hsts is not None:
                    headers.setdefault("Strict-Transport-Security", self.hsts)
                if message["status"] < 400 and is_api and "etag" in headers:
                    # A representation with a validator: caches may keep it for this user
                    # but must revalidate (If-None-Match) before every use.
                    headers["Cache-Control"] = "private, no-cache"
                elif is_api or message["status"] >= 400:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with refused preflights answered as problem+json (not text/plain)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    response = _cors_problem(scope, response)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _cors_problem(scope: Scope, refused: Response) -> Response:
    # Starlette names what it refused: "Disallowed CORS origin, method, headers".
    refused_parts = bytes(refused.body).decode().removeprefix("Disallowed CORS ")
    body = problem_body(
        status=400,
        code="cors_rejected",
        title="CORS Request Rejected",
        detail=f"The CORS preflight is refused: {refused_parts} not allowed.",
        instance=scope.get("path", ""),
        request_id=request_id_of(scope),
    )
    kept = {
        name: value
        for name, value in refused.headers.items()
        if name not in {"content-type", "content-length"}
    }
    return JSONResponse(body, status_code=400, headers=kept, media_type=PROBLEM_JSON)


class BodyLimitMiddleware:
    """Answers 413 for bodies over the limit, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await send_problem(send, scope, 413, "payload_too_large", self._detail())
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes through FastAPI's body parsing untouched
                    # and reaches the problem+json handler.
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)

    def _detail(self) -> str:
        return f"The request body exceeds the limit of {self.limit} bytes."
