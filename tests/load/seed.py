"""The benchmark database: a fresh PostgreSQL database, migrated, with users and tasks."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr
from sqlalchemy.engine import URL

from service.config import Settings
from service.db.migrate import migrate
from tests.support.databases import create_postgres_database, url_string

BENCH_PASSWORD = "benchmark-password-0123"
# Other users' tasks share the table, so the owner filter and its index really work.
OTHER_USERS = 2

INSERT_TASKS = """
INSERT INTO task (id, owner_id, title, description, status, priority, due_at,
                  created_at, updated_at, version)
SELECT gen_random_uuid(), $1::uuid, 'seeded task ' || n, 'seeded by the benchmark',
       (ARRAY['todo', 'in_progress', 'done'])[1 + n % 3],
       (ARRAY['low', 'normal', 'high', 'urgent'])[1 + n % 4],
       NULL, now() - make_interval(secs => n), now() - make_interval(secs => n), 1
FROM generate_series(1, $2::int) AS n
RETURNING id
"""


@dataclass(frozen=True)
class BenchUser:
    """The user every benchmark request acts as."""

    user_id: str
    token: str


def asyncpg_dsn(url: URL) -> str:
    """The URL in the form asyncpg.connect accepts."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_bench_database(admin_url: URL) -> URL:
    """An empty database with a unique name, migrated to head by the real migrations."""
    url = await create_postgres_database(admin_url, prefix="tasks_api_bench")
    settings = Settings(database_url=SecretStr(url_string(url)))
    await migrate(settings)
    return url


def register_user(base_url: str, email: str) -> BenchUser:
    """Register a user through the service's API and log in; returns id and access token."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        created = client.post("/api/v1/users", json={"email": email, "password": BENCH_PASSWORD})
        created.raise_for_status()
        token = client.post(
            "/api/v1/auth/token", data={"username": email, "password": BENCH_PASSWORD}
        )
        token.raise_for_status()
        return BenchUser(user_id=str(created.json()["id"]), token=token.json()["access_token"])


async def insert_tasks(url: URL, owner_id: str, count: int) -> list[str]:
    """Insert `count` tasks of one owner with SQL (fast); returns their ids."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(INSERT_TASKS, owner_id, count)
        await connection.execute("ANALYZE task")
    finally:
        await connection.close()
    return [str(row["id"]) for row in rows]


async def seed(url: URL, base_url: str, tasks_per_user: int, ids_file: Path) -> BenchUser:
    """Users through the API, their tasks through SQL; the bench user's ids go to `ids_file`."""
    run = secrets.token_hex(4)
    user = register_user(base_url, f"bench-{run}@example.com")
    for number in range(OTHER_USERS):
        other = register_user(base_url, f"other-{number}-{run}@example.com")
        await insert_tasks(url, other.user_id, tasks_per_user)
    ids = await insert_tasks(url, user.user_id, tasks_per_user)
    await asyncio.to_thread(ids_file.write_text, "\n".join(ids) + "\n")
    return user


async def missing_tasks(dsn: str, ids: Sequence[str]) -> list[str]:
    """The ids (in the order given) that have no row in the task table."""
    wanted = [uuid.UUID(task_id) for task_id in ids]  # ValueError for a malformed id
    if not wanted:
        return []
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id FROM task WHERE id = ANY($1::uuid[])", wanted)
    finally:
        await connection.close()
    found = {row["id"] for row in rows}
    return [task_id for task_id, key in zip(ids, wanted, strict=True) if key not in found]


async def count_tagged(dsn: str, tag: str) -> int:
    """Rows created by the overload run `tag` (answered or not)."""
    if not tag.isalnum():
        raise ValueError(f"a run tag is letters and digits, not {tag!r}")
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM task WHERE title LIKE $1", f"overload {tag} %"
        )
    finally:
        await connection.close()
    return count
