"""The application factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from service import health
from service.config import Settings, load_settings
from service.core.handlers import install_error_handlers
from service.core.head import HeadMiddleware
from service.core.lifecycle import ShutdownState, process_shutdown
from service.core.logging import configure_logging
from service.core.middleware import (
    BodyLimitMiddleware,
    ProblemCORSMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from service.core.openapi import CONTACT, LICENSE, SERVERS, TAGS, install_openapi
from service.core.security import configure_password_hashing
from service.db.session import open_database
from service.domains import API_PREFIX, discover_routers
from service.drills import install_drills
from service.state import AppState, app_state, attach_state
from service.telemetry import instrumentation as telemetry
from service.version import VERSION

log = structlog.get_logger("service.app")

DESCRIPTION = """
tasks-api keeps each user's tasks. Authenticate with `POST /api/v1/auth/token`
(OAuth2 password grant), then send `Authorization: Bearer <access_token>`.
Every error is an RFC 9457 `application/problem+json` document with a
machine-readable `code` and the request id.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database in the worker that serves, close it at shutdown."""
    state = app_state(app)
    database = open_database(state.settings)
    state.database = database
    # Telemetry: providers of this worker process, database spans; then a first
    # readiness verdict, because probes reach only some of the workers.
    telemetry.start_worker(state.settings, database.engine)
    with telemetry.untraced():
        await health.readiness_checks(app)
    log.info("started", version=VERSION, database=state.settings.safe_database_url)
    try:
        yield
    finally:
        state.shutdown.begin()
        await database.close()
        telemetry.stop_worker()
        log.info("stopped")


def create_app(settings: Settings | None = None, shutdown: ShutdownState | None = None) -> FastAPI:
    """Build the ASGI application for the given settings (read from the environment if None)."""
    settings = settings or load_settings()
    # Also when run by another server (`uvicorn --factory`): structlog's defaults would
    # render tracebacks with local variables, which can hold SQL parameters and secrets.
    configure_logging(settings.log_level, settings.log_format, settings.is_development)
    configure_password_hashing(
        settings.password_hash_concurrency,
        settings.password_hash_max_waiting,
        ceiling=max(1, settings.in_flight_limit // 2),
    )
    app = FastAPI(
        title="tasks-api",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        swagger_ui_parameters={"persistAuthorization": True},
        servers=SERVERS,
        openapi_tags=TAGS,
        contact=CONTACT,
        license_info=LICENSE,
        telemetry=telemetry.fastapi_telemetry(),
    )
    attach_state(app, AppState(settings=settings, shutdown=shutdown or process_shutdown))
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    api_routers = discover_routers()
    for router in api_routers:
        app.include_router(router, prefix=API_PREFIX)

    # Added innermost first: the request-context middleware ends up outermost.
    app.add_middleware(HeadMiddleware)
    if settings.drills_enabled:
        # Innermost: injected answers pass the headers, the access log and the metrics.
        install_drills(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.request_body_limit_bytes)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "Prefer",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Link",
                "Location",
                "X-Request-ID",
                "Idempotency-Replayed",
                "Retry-After",
                "WWW-Authenticate",
                "X-Drill",
            ],
            max_age=600,
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts_max_age=settings.hsts_max_age_seconds if settings.hsts_enabled else None,
    )
    app.add_middleware(telemetry.SpanErrorMiddleware)
    app.add_middleware(RequestContextMiddleware)
    # Telemetry: Prometheus HTTP metrics and the OpenTelemetry server span, outermost.
    telemetry.instrument_app(app, api_routers, API_PREFIX)
    return app
