"""The pure-ASGI middleware that applies the pod's drills to the requests they hit.

It sits inside the HTTP metrics, the request context and the security
headers: an injected answer is counted in `http_requests_total` and the
latency histogram like any other (a drill must move the SLIs, or it rehearses
nothing), logged with its request id, and served with the usual headers.
With no drill running it costs a clock read per request.
"""

from __future__ import annotations

import asyncio
import random

import structlog
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.middleware import route_template
from service.core.problem import send_problem
from service.drills.metrics import count_injected
from service.drills.model import Drill, DrillKind
from service.drills.store import ActiveDrills
from service.state import app_state

DRILL_HEADER = "X-Drill"
API_PATHS = "/api/"
READINESS_PATH = "/readyz"

log = structlog.get_logger("service.drills")


def _hitting(drills: tuple[Drill, ...], kind: DrillKind) -> Drill | None:
    """The drill of this kind if it hits this request (by its fraction), else None."""
    for drill in drills:
        # Not for security: which requests a drill hits only has to be a fair share.
        if drill.kind is kind and (drill.fraction >= 1 or random.random() < drill.fraction):  # noqa: S311
            return drill
    return None


def _marked(send: Send, marker: str) -> Send:
    """`send`, adding the drill header to the response."""

    async def send_marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append(DRILL_HEADER, marker)
        await send(message)

    return send_marked


def _note(hits: list[Drill]) -> str:
    """Mark the request as drilled in its log lines and its server span."""
    marker = ", ".join(drill.marker for drill in hits)
    structlog.contextvars.bind_contextvars(drill=marker)
    trace.get_current_span().set_attribute("tasks_api.drill", marker)
    for drill in hits:
        count_injected(drill.kind)
    return marker


class DrillMiddleware:
    """Adds latency or a 5xx to the API requests a drill hits, or fails readiness checks."""

    def __init__(self, app: ASGIApp, drills: ActiveDrills) -> None:
        self.app = app
        self.drills = drills

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        drills = self.drills.in_force()
        if not drills:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path == READINESS_PATH:
            await self._readiness(drills, scope, receive, send)
        # Only requests that match an API route: the HTTP metrics record no
        # other, and the drill counter must count what the SLI counts.
        elif path.startswith(API_PATHS) and route_template(scope) is not None:
            await self._api_request(drills, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _api_request(
        self, drills: tuple[Drill, ...], scope: Scope, receive: Receive, send: Send
    ) -> None:
        delay = _hitting(drills, DrillKind.LATENCY)
        error = _hitting(drills, DrillKind.ERROR)
        hits = [drill for drill in (delay, error) if drill is not None]
        if not hits:
            await self.app(scope, receive, send)
            return
        marked = _marked(send, _note(hits))
        if delay is not None and delay.latency_seconds:
            # Before the app runs: the wait holds no database connection.
            await asyncio.sleep(delay.latency_seconds)
        if error is None:
            await self.app(scope, receive, marked)
            return
        # The app never runs: an injected failure changes nothing.
        await send_problem(
            marked,
            scope,
            error.status or 500,
            "drill_injected",
            f"Injected by drill {error.id}; not a real failure.",
        )

    async def _readiness(
        self, drills: tuple[Drill, ...], scope: Scope, receive: Receive, send: Send
    ) -> None:
        drill = _hitting(drills, DrillKind.READINESS)
        if drill is None:
            await self.app(scope, receive, send)
            return
        marker = _note([drill])
        marked = _marked(send, marker)
        # As a real failing check does: a warning, and this worker's readiness gauge reads 0.
        log.warning("readiness_failed_by_drill", drill=marker)
        on_readiness = app_state(scope["app"]).on_readiness
        if on_readiness is not None:
            on_readiness(False)
        await send_problem(
            marked,
            scope,
            503,
            "not_ready",
            "Not ready: drill: failing.",
            extra={"checks": {"drill": "failing"}},
        )
