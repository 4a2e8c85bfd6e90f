"""Drills: fault injection an operator starts on purpose, so that alerts can be rehearsed.

With DRILLS_ENABLED, an operator holding DRILLS_TOKEN starts a drill through
`POST /drills`: for a bounded time, added latency or 5xx answers for a
fraction of API requests, or failing readiness checks. A drill lives in a
file of the pod's Prometheus multiprocess directory, so every worker of the
pod applies it (within a second) and a restart, which empties the directory,
ends it. Every injected answer carries an `X-Drill` header, a `drill` log
field and a span attribute, and is counted in `tasks_api_drill_injected_total`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import FastAPI

from service.drills.middleware import DrillMiddleware
from service.drills.routes import router
from service.drills.store import ActiveDrills, DrillStore, attach_drills

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def state_directory() -> Path:
    """Where drills are kept: the directory the workers of this pod share, or a private one."""
    shared = os.environ.get(MULTIPROC_ENV)
    if not shared:
        # Outside `tasks-api serve` (one process, e.g. `uvicorn --factory`) a fresh
        # directory: nothing else would read it, and a restart starts without drills.
        return Path(tempfile.mkdtemp(prefix="tasks-api-drills-"))
    path = Path(shared)
    path.mkdir(parents=True, exist_ok=True)
    return path


def install_drills(app: FastAPI) -> None:
    """Add the drill endpoints and the injecting middleware (call before the other middleware)."""
    drills = ActiveDrills(DrillStore(state_directory()))
    attach_drills(app, drills)
    app.include_router(router)
    app.add_middleware(DrillMiddleware, drills=drills)
