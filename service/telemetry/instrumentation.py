"""What the app factory and its lifespan call: HTTP, span and database instrumentation.

Order of one request (outermost first): OpenTelemetry server span (FastAPI
instrumentation wraps the whole middleware stack) -> Prometheus HTTP metrics
-> request context and access log -> span errors -> the rest of the app. The
access line is therefore written while the server span is current, and
carries its trace_id and span_id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.telemetry import metrics, otel
from service.telemetry.http import (
    UNOBSERVED_PATHS,
    HttpMetricsMiddleware,
    SpanErrorMiddleware,
    record_handled_server_errors,
)

SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
# Matched against the full URL without the query string.
EXCLUDED_URLS = ",".join(f"^[a-z]+://[^/]+{path}$" for path in UNOBSERVED_PATHS)

__all__ = [
    "SpanErrorMiddleware",
    "instrument_app",
    "start_worker",
    "stop_worker",
    "untraced",
]


def instrument_app(app: FastAPI) -> None:
    """Add Prometheus HTTP metrics outermost and the OpenTelemetry server span around all.

    Call it last in the app factory, after the request-context middleware.
    Safe for many apps in one process: metric objects exist once, and the
    OpenTelemetry instrumentation marks the app it has instrumented.
    """
    app.add_middleware(HttpMetricsMiddleware)
    record_handled_server_errors(app)
    app.state.on_readiness = metrics.set_readiness
    if otel.sdk_disabled():
        return
    # Stable HTTP semantic conventions: http.server.request.duration (seconds),
    # http.request.method, http.route, http.response.status_code.
    os.environ.setdefault(SEMCONV_OPT_IN, "http")
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )


def start_worker(settings: Settings, engine: AsyncEngine) -> None:
    """In the serving process: build info, providers (once per process), database spans."""
    metrics.mark_process_serving()
    if otel.start(settings) is None:
        return
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        # A worker has one engine; a test process builds an app (and an engine)
        # after another, and the instrumentor follows the newest one.
        instrumentor.uninstrument()
    # The instrumentation declares SQLAlchemy < 2.1 but uses only its stable
    # event API; the live tests check the database spans it produces.
    instrumentor.instrument(engine=engine.sync_engine, skip_dep_check=True)


def stop_worker() -> None:
    """Export what this process has buffered (the app is shutting down)."""
    otel.flush()


@contextmanager
def untraced() -> Iterator[None]:
    """Run without spans (the start-up readiness check, like the probes)."""
    with suppress_instrumentation():
        yield
