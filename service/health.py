"""Liveness (/healthz, no I/O) and readiness (/readyz: database, schema, drain)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from service.core.openapi import problem_responses
from service.core.problem import problem_response
from service.db.migrate import SchemaState, head_revision, schema_state
from service.db.revision import RevisionProbe
from service.state import app_state
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


@dataclass
class ReadinessVerdict:
    """Every readiness check's state (for the answer) and whether the instance is ready."""

    checks: dict[str, str]
    ready: bool


class _AheadNotice:
    """Logs, once per process and pair of revisions, that a newer release migrated the schema."""

    def __init__(self) -> None:
        self.reported: tuple[str | None, str | None] | None = None

    def report(self, current: str | None, head: str | None) -> None:
        if self.reported == (current, head):
            return
        self.reported = (current, head)
        log.warning("schema_ahead_of_code", database_revision=current, code_revision=head)


_ahead_notice = _AheadNotice()


def _schema_check(current: str | None) -> tuple[SchemaState, str]:
    head = head_revision()
    state = schema_state(current)
    if state is SchemaState.AT_HEAD:
        return state, "ok"
    if state is SchemaState.AHEAD:
        _ahead_notice.report(current, head)
        return state, f"ahead: database at {current}, newer than this code's {head}"
    return state, f"behind: database at {current or 'empty'}, code at {head}"


async def _check_database(
    engine: AsyncEngine, probe: RevisionProbe
) -> tuple[SchemaState, dict[str, str]]:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS), engine.connect() as connection:
            # Reading the revision is the round trip that shows the database answers.
            current = await probe.current(connection)
    except Exception as error:
        log.warning("readiness_database_failed", error=type(error).__name__)
        return SchemaState.UNKNOWN, {"database": "unavailable", "schema": "unknown"}
    state, schema = _schema_check(current)
    return state, {"database": "ok", "schema": schema}


# Ready when the database answers and the schema is at the code's head or ahead of it
# (expand/contract: the code of the previous release keeps working on a newer schema,
# which is what a rolling upgrade and a rollback run on).
_READY_SCHEMA_STATES = frozenset({SchemaState.AT_HEAD, SchemaState.AHEAD})


async def readiness_checks(app: Starlette) -> ReadinessVerdict:
    """Every readiness check and the verdict; both go to the app's telemetry callbacks."""
    app_status = app_state(app)
    if app_status.shutdown.draining:
        verdict = ReadinessVerdict(checks={"shutdown": "draining"}, ready=False)
    else:
        state, checks = await _check_database(app_status.database.engine, app_status.revision_probe)
        verdict = ReadinessVerdict(checks=checks, ready=state in _READY_SCHEMA_STATES)
        if app_status.on_schema_state is not None:
            app_status.on_schema_state(state)
    if app_status.on_readiness is not None:
        app_status.on_readiness(verdict.ready)
    return verdict


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness",
    description=(
        "200 when the database answers within 1 s and its schema is at the code's head "
        "revision or at a newer one (a newer release migrated it); 503 problem+json naming "
        "each failing check when the schema is behind or empty, and from the moment "
        "shutdown begins."
    ),
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Any:
    """Report whether this instance should receive traffic."""
    verdict = await readiness_checks(request.app)
    if not verdict.ready:
        failing = {name: state for name, state in verdict.checks.items() if state != "ok"}
        detail = "; ".join(f"{name}: {state}" for name, state in failing.items())
        return problem_response(
            request,
            status=503,
            code="not_ready",
            detail=f"Not ready: {detail}.",
            extra={"checks": verdict.checks},
        )
    return JSONResponse({"status": "ready", "checks": verdict.checks})
