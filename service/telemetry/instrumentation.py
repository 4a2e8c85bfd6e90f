"""What the app factory and its lifespan call: HTTP, span and database instrumentation.

Order of one request (outermost first): OpenTelemetry server span (FastAPI's
native telemetry wraps the whole middleware stack) -> Prometheus HTTP metrics
-> request context and access log -> span errors -> the rest of the app. The
access line is therefore written while the server span is current, and
carries its trace_id and span_id.

FastAPI's native telemetry makes the server span with the stable semantic
conventions. Its OTLP HTTP metrics (http.server.request.duration,
http.server.active_requests) are recorded only when metrics are exported over
OTLP (OTEL_METRICS_EXPORTER=otlp): Prometheus scrapes the same durations as
http_request_duration_seconds. Its per-operation spans (one for each
dependency, the endpoint and the serialization) are off: on GET
/api/v1/tasks/{id} they tripled the spans of a request for little insight, as
the database spans already show where a request waits.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation, unwrap
from opentelemetry.metrics import NoOpMeterProvider
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.state import app_state
from service.telemetry import auto, environment, metrics, otel, runtime
from service.telemetry.http import (
    UNOBSERVED_PATHS,
    HttpMetricsMiddleware,
    SpanErrorMiddleware,
    initialise_request_series,
    record_handled_server_errors,
)
from service.telemetry.statement_spans import take_over_statement_spans

log = structlog.get_logger("service.telemetry")

__all__ = [
    "SpanErrorMiddleware",
    "fastapi_telemetry",
    "instrument_app",
    "start_worker",
    "stop_worker",
    "untraced",
]


def _unobserved(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNOBSERVED_PATHS


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's native OpenTelemetry settings: server spans (and HTTP metrics when exported).

    The providers are the global ones that `start_worker` installs; until then,
    and with OTEL_SDK_DISABLED, FastAPI finds none and records nothing.
    """
    if otel.sdk_disabled():
        return {"tracing": False, "metrics": False, "logs": False}
    return {
        "metrics": "metrics" in environment.exported_signals(),
        "operation_spans": False,
        # Logged by tasks-api itself (JSON lines on stdout), never exported as OTLP logs.
        "logs": False,
        "auto_configure": False,
        "exclude": _unobserved,
    }


def instrument_app(app: FastAPI, api_routers: Sequence[APIRouter], api_prefix: str) -> None:
    """Add Prometheus HTTP metrics outermost (inside FastAPI's server span).

    Call it last in the app factory, after the routers and the request-context
    middleware. Safe for many apps in one process: metric objects exist once.
    The API routes' error series start at zero (see initialise_request_series).
    """
    app.add_middleware(HttpMetricsMiddleware)
    initialise_request_series(api_routers, api_prefix)
    record_handled_server_errors(app)
    state = app_state(app)
    state.on_readiness = metrics.set_readiness
    state.on_schema_state = metrics.set_schema_state
    # Auto-instrumentation's FastAPI class would take the server span over.
    auto.remove_server_instrumentation(app)


def start_worker(settings: Settings, engine: AsyncEngine) -> None:
    """In the serving process (in its event loop): build info, runtime metrics, providers, spans."""
    metrics.mark_process_serving()
    runtime.count_garbage_collections()
    runtime.start_event_loop_watch()
    providers = otel.start(settings)
    if providers is None:
        return
    if removed := auto.remove_duplicating_instrumentations():
        log.info("telemetry_instrumentations_removed", instrumentations=removed)
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        # A worker has one engine; a test process builds an app (and an engine)
        # after another, and the instrumentor follows the newest one.
        instrumentor.uninstrument()
    # The instrumentation declares SQLAlchemy < 2.1 but uses only its stable
    # event API; the live tests check the database spans it produces.
    # Its pool usage metric repeats tasks_api_db_pool_*: measured only when exported.
    meter_provider = None if "metrics" in providers.exporting else NoOpMeterProvider()
    engine_tracer = instrumentor.instrument(
        engine=engine.sync_engine, skip_dep_check=True, meter_provider=meter_provider
    )
    # The same statement spans, their names and attributes derived once per statement.
    take_over_statement_spans(engine_tracer, engine.sync_engine)
    # The instrumentation also wraps Engine.connect in a `connect` span: one more span on
    # every request (each checks a pooled connection out), which says only that the pool
    # was asked. Pool waits are measured by tasks_api_db_pool_wait_seconds; a request's
    # spans stay its server span and one per statement.
    unwrap(Engine, "connect")


def stop_worker() -> None:
    """Stop the lag measurement and export what is buffered (the app is shutting down)."""
    runtime.stop_event_loop_watch()
    otel.flush()


@contextmanager
def untraced() -> Iterator[None]:
    """Run without spans (the start-up readiness check, like the probes)."""
    with suppress_instrumentation():
        yield
