"""Liveness (/healthz, no I/O) and readiness (/readyz: database, schema, drain)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from service.core.lifecycle import ShutdownState
from service.core.openapi import problem_responses
from service.core.problem import problem_response
from service.db.migrate import current_revision, head_revision
from service.version import VERSION

READINESS_TIMEOUT_SECONDS = 1.0

router = APIRouter(tags=["health"])
log = structlog.get_logger("service.health")


class Health(BaseModel):
    """Liveness answer."""

    status: str = Field(examples=["ok"])
    version: str = Field(examples=["1.4.0"])


class Readiness(BaseModel):
    """Readiness answer: every check and its state."""

    status: str = Field(examples=["ready"])
    checks: dict[str, str] = Field(examples=[{"database": "ok", "schema": "ok"}])


@router.get(
    "/healthz",
    operation_id="getLiveness",
    summary="Liveness",
    description="200 while the process can serve; does no I/O.",
    response_model=Health,
)
async def healthz() -> Health:
    """Report that the process is alive, with its version."""
    return Health(status="ok", version=VERSION)


async def _check_database(engine: AsyncEngine) -> dict[str, str]:
    checks = {"database": "ok", "schema": "ok"}
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await current_revision(connection)
    except Exception as error:
        log.warning("readiness_database_failed", error=type(error).__name__)
        return {"database": "unavailable", "schema": "unknown"}
    head = head_revision()
    if current != head:
        checks["schema"] = f"behind: database at {current or 'empty'}, code at {head}"
    return checks


async def readiness_checks(app: Starlette) -> dict[str, str]:
    """Every readiness check and its state; the verdict goes to `app.state.on_readiness`."""
    shutdown: ShutdownState = app.state.shutdown
    if shutdown.draining:
        checks = {"shutdown": "draining"}
    else:
        checks = await _check_database(app.state.engine)
    set_ready = getattr(app.state, "on_readiness", None)
    if callable(set_ready):
        set_ready(all(state == "ok" for state in checks.values()))
    return checks


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness",
    description=(
        "200 when the database answers within 1 s and its schema is at the code's head "
        "revision; 503 problem+json naming each failing check, and 503 from the moment "
        "shutdown begins."
    ),
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Any:
    """Report whether this instance should receive traffic."""
    checks = await readiness_checks(request.app)
    failing = {name: state for name, state in checks.items() if state not in ("ok",)}
    if failing:
        detail = "; ".join(f"{name}: {state}" for name, state in failing.items())
        return problem_response(
            request,
            status=503,
            code="not_ready",
            detail=f"Not ready: {detail}.",
            extra={"checks": checks},
        )
    return JSONResponse({"status": "ready", "checks": checks})
