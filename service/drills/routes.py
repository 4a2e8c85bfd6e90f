"""HTTP endpoints of drills: start, list, show and stop, for operators holding DRILLS_TOKEN."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.core.openapi import header, problem_responses, with_headers
from service.drills.errors import OperatorTokenError
from service.drills.model import DrillList, DrillOut, DrillRequest
from service.drills.store import ActiveDrills, drills_of
from service.state import app_state

log = structlog.get_logger("service.drills")

# A secret of the operators, not a user's access token: anyone may sign up
# and hold one of those, and a drill makes the service fail on purpose.
_operator_token = HTTPBearer(
    scheme_name="DrillToken",
    description="DRILLS_TOKEN, the operators' secret (never a user's access token).",
    auto_error=False,
)


def _client(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


def require_operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_operator_token)],
) -> None:
    """Refuse the request unless it carries the operator token."""
    settings = app_state(request.app).settings
    expected = settings.drills_token.get_secret_value().encode() if settings.drills_token else b""
    if credentials is None:
        log.warning("drill_auth_failed", reason="missing", client=_client(request))
        raise OperatorTokenError(
            "Drills need the operator token: Authorization: Bearer <DRILLS_TOKEN>."
        )
    # Digests of equal length: the comparison takes as long for any wrong token.
    given = hashlib.sha256(credentials.credentials.encode()).digest()
    if not expected or not hmac.compare_digest(given, hashlib.sha256(expected).digest()):
        log.warning("drill_auth_failed", reason="invalid", client=_client(request))
        raise OperatorTokenError("The operator token is not valid.")


router = APIRouter(tags=["drills"], dependencies=[Depends(require_operator)])
DrillId = Annotated[str, Path(max_length=64, examples=["4f6c0e5a9b2d4e1f8a7c3b2d1e0f9a8b"])]
_LOCATION = {201: {"Location": header("The path of the new drill.")}}


def _drills(request: Request) -> ActiveDrills:
    return drills_of(request.app)


@router.post(
    "/drills",
    name="startDrill",
    operation_id="startDrill",
    summary="Start a drill",
    description=(
        "Injects, until `duration_seconds` have passed or the drill is stopped, added latency "
        "or a 5xx into `fraction` of the API requests of this pod's workers, or a failing "
        "readiness check. One drill per kind at a time; a restart ends every drill."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=DrillOut,
    responses=with_headers(problem_responses(401, 409, 422), _LOCATION),
)
def start_drill(payload: DrillRequest, request: Request, response: Response) -> DrillOut:
    """Start a drill on this pod and point Location at it."""
    settings = app_state(request.app).settings
    if payload.duration_seconds > settings.drills_max_duration_seconds:
        limit = settings.drills_max_duration_seconds
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "duration_seconds"),
                    "msg": f"Input should be less than or equal to {limit} "
                    "(DRILLS_MAX_DURATION_SECONDS)",
                    "type": "less_than_equal",
                }
            ]
        )
    drill = _drills(request).start(payload)
    log.info(
        "drill_started",
        drill=drill.marker,
        fraction=drill.fraction,
        latency_seconds=drill.latency_seconds,
        status=drill.status,
        duration_seconds=payload.duration_seconds,
        ends_at=DrillOut.of(drill).model_dump(mode="json")["ends_at"],
        client=_client(request),
    )
    response.headers["Location"] = str(request.app.url_path_for("getDrill", drill_id=drill.id))
    return DrillOut.of(drill)


@router.get(
    "/drills",
    name="listDrills",
    operation_id="listDrills",
    summary="Running drills",
    description="The drills running on this pod now.",
    response_model=DrillList,
    responses=problem_responses(401),
)
def list_drills(request: Request) -> DrillList:
    """List the drills running on this pod."""
    running = _drills(request).store.running(time.time())
    return DrillList(drills=[DrillOut.of(drill) for drill in running])


@router.get(
    "/drills/{drill_id}",
    name="getDrill",
    operation_id="getDrill",
    summary="A running drill",
    response_model=DrillOut,
    responses=problem_responses(401, 404),
)
def get_drill(drill_id: DrillId, request: Request) -> DrillOut:
    """Show one running drill."""
    return DrillOut.of(_drills(request).store.get(drill_id, time.time()))


@router.delete(
    "/drills/{drill_id}",
    name="stopDrill",
    operation_id="stopDrill",
    summary="Stop a drill",
    description="Ends a running drill now; every worker of the pod stops injecting within 1 s.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404),
)
def stop_drill(drill_id: DrillId, request: Request) -> Response:
    """End a running drill early."""
    drill = _drills(request).end(drill_id)
    log.info("drill_stopped", drill=drill.marker, client=_client(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
