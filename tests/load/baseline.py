"""The benchmark's bare baseline: FastAPI + asyncpg, the service's SQL, nothing else.

No auth, no middleware, no telemetry, no ORM: the owner comes from
BASELINE_OWNER_ID and every request runs exactly the SQL that tasks-api runs
for the same operation on the same tables (see service/domains/tasks/repository.py).
It is what a hand-tuned service on the same stack could do, so that the ratio
service/bare shows what our layers cost. tests/load/instrumented.py builds the
same app and adds the observability libraries at their defaults.

    BASELINE_DATABASE_URL=postgresql://... BASELINE_OWNER_ID=<uuid> \\
        gunicorn tests.load.baseline:app -k uvicorn_worker.UvicornWorker -w 2
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

COLUMNS = (
    "id",
    "owner_id",
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "created_at",
    "updated_at",
    "version",
)
GET_TASK = """
SELECT id, owner_id, title, description, status, priority, due_at, created_at, updated_at, version
FROM task WHERE task.id = $1 AND task.owner_id = $2
"""
LIST_TASKS = """
SELECT id, owner_id, title, description, status, priority, due_at, created_at, updated_at, version
FROM task WHERE task.owner_id = $1 ORDER BY task.created_at DESC, task.id DESC LIMIT $2
"""
INSERT_TASK = """
INSERT INTO task (id, owner_id, title, description, status, priority, due_at, created_at,
                  updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))


class NewTask(BaseModel):
    """The body of POST /api/v1/tasks (the fields the benchmark sends)."""

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    status: str = "todo"
    priority: str = "normal"


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _task(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "priority": row["priority"],
        "due_at": _timestamp(row["due_at"]),
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
        "version": row["version"],
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One asyncpg pool per worker, opened lazily like the service's."""
    app.state.owner_id = uuid.UUID(os.environ["BASELINE_OWNER_ID"])
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DATABASE_URL"], min_size=1, max_size=POOL_SIZE
    )
    try:
        yield
    finally:
        await app.state.pool.close()


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


router = APIRouter()


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """200 when the database answers."""
    await _pool(request).fetchval("SELECT 1")
    return JSONResponse({"status": "ready"})


@router.get("/api/v1/tasks/{task_id}")
async def get_task(task_id: uuid.UUID, request: Request) -> Response:
    """One task of the owner."""
    row = await _pool(request).fetchrow(GET_TASK, task_id, request.app.state.owner_id)
    if row is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return JSONResponse(_task(row))


@router.get("/api/v1/tasks")
async def list_tasks(request: Request, limit: int = 50) -> Response:
    """The owner's newest tasks; one extra row tells whether a next page exists."""
    rows = await _pool(request).fetch(LIST_TASKS, request.app.state.owner_id, limit + 1)
    items = [_task(row) for row in rows[:limit]]
    next_cursor = items[-1]["id"] if len(rows) > limit else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@router.post("/api/v1/tasks", status_code=201)
async def create_task(body: NewTask, request: Request) -> Response:
    """Insert a task and answer it with its Location."""
    now = datetime.now(UTC)
    task_id = uuid.uuid4()
    values = (
        task_id,
        request.app.state.owner_id,
        body.title,
        body.description,
        body.status,
        body.priority,
        None,
        now,
        now,
        1,
    )
    await _pool(request).execute(INSERT_TASK, *values)
    row = dict(zip(COLUMNS, values, strict=True))
    return JSONResponse(
        _task(row), status_code=201, headers={"Location": f"/api/v1/tasks/{task_id}"}
    )


def create_app() -> FastAPI:
    """The bare app: the routes above and nothing in front of them."""
    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app


app = create_app()
