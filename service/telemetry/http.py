"""HTTP instrumentation: Prometheus request metrics and the server span's errors."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Status, StatusCode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.logging import format_exception
from service.core.middleware import route_template
from service.telemetry import metrics

# Probes and the metrics path: no request metrics, no spans (not even database spans).
UNOBSERVED_PATHS = ("/healthz", "/readyz", "/metrics")

# The statuses the availability SLI counts as bad that a healthy worker never
# answers: their series exist at zero from a worker's start, so the SLI's
# numerator is a real 0 (not an absent series) and its first increase is a rate.
SLI_ERROR_STATUSES = ("500", "503")

# Shed answers (MAX_IN_FLIGHT) were never routed: in http_requests_total their handler
# is this label, under the API prefix that the SLIs select (handler=~"/api/.*").
SHED_HANDLER = "/api/(shed before routing)"
_SHED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})

ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


class HttpMetricsMiddleware:
    """Prometheus HTTP metrics of every request that matches a route: count, duration, in flight.

    Labels are route templates and exact status codes; requests that match no
    route are not recorded (a scan of random paths must not create series),
    nor are the probes and /metrics. The series and their meaning are those of
    prometheus-fastapi-instrumentator's middleware, which this replaces: the
    duration runs from before route matching to the end of the response body,
    and a request whose app raises before answering counts as a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The same (cached) route template as the access line.
        handler = route_template(scope)
        if not handler or handler in UNOBSERVED_PATHS:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        in_progress = metrics.HTTP_IN_PROGRESS.labels(method, handler)
        in_progress.inc()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            in_progress.dec()
            metrics.HTTP_REQUESTS.labels(method, str(status), handler).inc()
            metrics.HTTP_DURATION.labels(method, handler).observe(
                max(time.perf_counter() - started, 0.0)
            )


def initialise_request_series(routers: Iterable[APIRouter], prefix: str) -> None:
    """Create each API route's 5xx counters and duration histogram at zero.

    Without it a route's error series appears with its first error, and
    `increase()` over a series that starts at 1 sees nothing: the first
    errors after a deployment would not count against the SLO. Only the API
    routers' routes (mounted under ``prefix``) are initialised; probes and
    /metrics stay unobserved, and the label set stays bounded by the route table.
    """
    methods: set[str] = set()
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            handler = f"{prefix}{route.path}"
            for method in sorted(route.methods or ()):
                methods.add(method)
                metrics.HTTP_DURATION.labels(method=method, handler=handler)
                for status in SLI_ERROR_STATUSES:
                    metrics.HTTP_REQUESTS.labels(method=method, status=status, handler=handler)
    # What overload sheds, for every method the API answers (see record_shed_request).
    for method in methods:
        metrics.HTTP_REQUESTS.labels(method=method, status="503", handler=SHED_HANDLER)


def record_shed_request(method: str) -> None:
    """Count an API request shed by the worker's protocol, for the SLIs too.

    Besides tasks_api_http_requests_shed_total, it is a 503 in http_requests_total
    (SHED_HANDLER, the method one of a fixed set), so that the availability SLI and its
    alerts see what overload sheds.
    """
    metrics.HTTP_REQUESTS_SHED.inc()
    shed_method = method if method in _SHED_METHODS else "OTHER"
    metrics.HTTP_REQUESTS.labels(method=shed_method, status="503", handler=SHED_HANDLER).inc()


def _safe_message(exc: BaseException) -> str:
    # SQLAlchemy appends the statement and its parameters to its messages.
    return str(exc).split("[SQL:", 1)[0].strip()


def record_error(exc: BaseException) -> None:
    """Record an exception on the current span and mark the span as failed."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.record_exception(
        exc,
        attributes={
            "exception.message": _safe_message(exc),
            "exception.stacktrace": format_exception((type(exc), exc, exc.__traceback__)),
        },
    )
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class SpanErrorMiddleware:
    """Between the access log and the app: records escaping exceptions, silences probes.

    It sits inside the request-context middleware, which turns an escaping
    exception into the last-resort 500 and never re-raises it, so the
    exception must be put on the server span here. Probe requests run with
    instrumentation suppressed: their database check creates no orphan spans.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in UNOBSERVED_PATHS:
            with suppress_instrumentation():
                await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            record_error(exc)
            raise


def _recording_server_errors(handler: ExceptionHandler) -> ExceptionHandler:
    async def handle(request: Request, exc: Exception) -> Response:
        result = handler(request, exc)
        response = await result if inspect.isawaitable(result) else result
        if response.status_code >= 500:
            record_error(exc)
        return response

    return handle


def record_handled_server_errors(app: FastAPI) -> None:
    """Exceptions that a handler turns into a 5xx (database unavailable) go on the span too."""
    handlers: dict[Any, ExceptionHandler] = app.exception_handlers
    for key, handler in list(handlers.items()):
        handlers[key] = _recording_server_errors(handler)
