"""Coexistence with OpenTelemetry auto-instrumentation.

The OpenTelemetry Operator's Python injection and `opentelemetry-instrument
tasks-api serve` both run the SDK's auto-configuration at interpreter start,
in the gunicorn master: global tracer and meter providers with their own OTLP
exporters, and every instrumentation package they find. tasks-api detects this
and keeps one pipeline and one span per operation:

- it adopts the installed providers (a global provider cannot be replaced), so
  its spans and metrics go out through the injected exporters and resource;
- it keeps its own server span (FastAPI's native telemetry: route names,
  probes not traced, errors recorded) and removes the contrib FastAPI
  instrumentation's middleware, for which the native telemetry would step
  aside (its span adds `http send`/`http receive` children to every request
  and traces the probes);
- it keeps its own SQLAlchemy spans and switches the asyncpg instrumentation
  off, whose spans would repeat every statement one level down.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
from opentelemetry import metrics as metrics_api
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger("service.telemetry")

AUTO_INSTRUMENTATION_MODULE = "opentelemetry.instrumentation.auto_instrumentation"
# Instrumentations whose spans repeat tasks-api's own: (module, instrumentor class).
DUPLICATING_INSTRUMENTORS = (
    ("opentelemetry.instrumentation.fastapi", "FastAPIInstrumentor"),
    ("opentelemetry.instrumentation.starlette", "StarletteInstrumentor"),
    ("opentelemetry.instrumentation.asyncpg", "AsyncPGInstrumentor"),
)
_ASGI_MIDDLEWARE = ("opentelemetry.instrumentation.asgi", "OpenTelemetryMiddleware")


def auto_instrumented() -> bool:
    """Whether OpenTelemetry auto-instrumentation ran in this interpreter."""
    return AUTO_INSTRUMENTATION_MODULE in sys.modules


def installed_providers() -> tuple[TracerProvider, MeterProvider] | None:
    """The SDK providers someone installed globally before tasks-api (auto-instrumentation).

    Call it only while this process has no providers of tasks-api's own.
    """
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics_api.get_meter_provider()
    if not isinstance(tracer_provider, TracerProvider):
        return None
    if not isinstance(meter_provider, MeterProvider):
        # Traces only (OTEL_METRICS_EXPORTER=none, say): metrics get a provider
        # without readers, so nothing is measured twice.
        meter_provider = MeterProvider(resource=tracer_provider.resource, shutdown_on_exit=False)
        metrics_api.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider


def _instrumentor(module_name: str, class_name: str) -> Any:
    module = sys.modules.get(module_name)
    return getattr(module, class_name)() if module is not None else None


def has_asgi_server_middleware(app: Any) -> bool:
    """Whether the app's built middleware stack holds the contrib ASGI server middleware."""
    stack, seen = getattr(app, "middleware_stack", None), set()
    while stack is not None and id(stack) not in seen:
        seen.add(id(stack))
        if (type(stack).__module__, type(stack).__name__) == _ASGI_MIDDLEWARE:
            return True
        stack = getattr(stack, "app", None)
    return False


def remove_server_instrumentation(app: Any) -> None:
    """Take the contrib FastAPI/Starlette server middleware off this app, if it has one.

    Call it last in the app factory: uninstrumenting builds the middleware stack.
    """
    if not getattr(app, "_is_instrumented_by_opentelemetry", False):
        return
    for module_name, class_name in DUPLICATING_INSTRUMENTORS[:2]:
        instrumentor = _instrumentor(module_name, class_name)
        if instrumentor is not None and hasattr(instrumentor, "uninstrument_app"):
            instrumentor.uninstrument_app(app)
            break
    if has_asgi_server_middleware(app):  # pragma: no cover - a contrib version we do not know
        log.warning("telemetry_duplicate_server_spans", reason="contrib ASGI middleware remains")


def remove_duplicating_instrumentations() -> list[str]:
    """Switch off, in this process, the instrumentations that repeat tasks-api's spans."""
    removed = []
    for module_name, class_name in DUPLICATING_INSTRUMENTORS:
        instrumentor = _instrumentor(module_name, class_name)
        if instrumentor is not None and instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
            removed.append(module_name.rsplit(".", 1)[1])
    return removed
