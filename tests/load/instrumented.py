"""The benchmark's instrumented baseline: the bare app plus the observability libraries.

The same FastAPI + asyncpg app as tests/load/baseline.py, with what a team gets
by following each library's README, nothing tuned:

- the OpenTelemetry SDK per worker (tests/load/instrumented_gunicorn.py, the SDK's
  documented gunicorn `post_fork` recipe): a TracerProvider with a
  BatchSpanProcessor and the OTLP/HTTP span exporter, a MeterProvider with a
  PeriodicExportingMetricReader and the OTLP/HTTP metric exporter, every setting
  at its default (every trace sampled, metrics exported every 60 s);
- FastAPI's native telemetry with its default settings (server span, HTTP
  metrics, a span per dependency, endpoint and serialization);
- `AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]`: a span per SQL statement;
- `Instrumentator().instrument(app).expose(app)` of prometheus-fastapi-instrumentator,
  in prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR);
- structlog configured for JSON lines on stdout, one access line per request from
  an `@app.middleware("http")` function, with the trace and span ids.

    BASELINE_DATABASE_URL=postgresql://... BASELINE_OWNER_ID=<uuid> \\
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 \\
        gunicorn tests.load.instrumented:app -c python:tests.load.instrumented_gunicorn \\
        -k uvicorn_worker.UvicornWorker -w 2
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from prometheus_fastapi_instrumentator import Instrumentator

from tests.load.baseline import create_app

# structlog's documented JSON set-up (the "Logging Best Practices" processors).
structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.dev.set_exc_info,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks,
        structlog.processors.JSONRenderer(),
    ],
    logger_factory=structlog.PrintLoggerFactory(),
    cache_logger_on_first_use=True,
)
access_log = structlog.get_logger("access")

AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
app: FastAPI = create_app()
Instrumentator().instrument(app).expose(app)


@app.middleware("http")
async def log_access(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """One JSON access line per request, with the ids of the server span."""
    started = time.perf_counter()
    response = await call_next(request)
    context = trace.get_current_span().get_span_context()
    access_log.info(
        "request",
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        client=request.client.host if request.client else None,
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
    )
    return response
