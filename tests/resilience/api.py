"""The few API calls the resilience tests make, against a real server over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import URL

PASSWORD = "resilience-password-0123"


@dataclass(frozen=True)
class Owner:
    """A user of the service under test, with one task."""

    auth: dict[str, str]
    task_id: str


async def sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    """Register a fresh user, log in, and return the Authorization header."""
    email = f"resilience-{uuid.uuid4().hex[:12]}@example.com"
    created = await client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def create_task(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    title: str,
    *,
    idempotency_key: str | None = None,
    limit_seconds: float | None = None,
) -> httpx.Response:
    """POST /api/v1/tasks with a title."""
    headers = dict(auth)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return await client.post(
        "/api/v1/tasks",
        json={"title": title},
        headers=headers,
        timeout=limit_seconds if limit_seconds is not None else client.timeout,
    )


def asyncpg_dsn(url: URL) -> str:
    """A SQLAlchemy URL as asyncpg.connect takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def rows(url: URL, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on the database directly (never through the proxy)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()
