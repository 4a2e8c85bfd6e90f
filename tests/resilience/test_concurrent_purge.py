"""`tasks-api purge` run three times at once on PostgreSQL while the API creates keys and tokens."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from service.db.types import utcnow
from service.domains import load_models
from service.domains.tasks.models import IdempotencyKey
from service.domains.users.models import RefreshToken, User
from tests.support.apps import migrated_database
from tests.support.databases import url_string
from tests.support.purge_rows import (
    add_user,
    missing,
    parse_summary,
    run_purge,
    seed_expired,
    seed_kept,
    start_purge,
)
from tests.support.server import running_service

pytestmark = pytest.mark.postgres

CONCURRENT_RUNS = 3
PASSWORD = "a long enough passphrase 42"


class Traffic(threading.Thread):
    """One user creating tasks with fresh Idempotency-Keys and rotating its refresh token."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = f"{base_url}/api/v1"
        self.stop = threading.Event()
        self.keys: list[str] = []
        self.statuses: list[int] = []
        self.refresh_token = ""
        self.email = f"traffic-{uuid.uuid4().hex[:8]}@example.com"
        self.ready = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as api:
            api.post("/users", json={"email": self.email, "password": PASSWORD})
            form = {"grant_type": "password", "username": self.email, "password": PASSWORD}
            tokens = api.post("/auth/token", data=form).json()
            self.refresh_token = tokens["refresh_token"]
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            self.ready.set()
            rounds = 0
            while not self.stop.is_set():
                rounds += 1
                key = uuid.uuid4().hex
                created = api.post(
                    "/tasks", json={"title": key}, headers={**headers, "Idempotency-Key": key}
                )
                self.statuses.append(created.status_code)
                if created.status_code == 201:
                    self.keys.append(key)
                if rounds % 5 == 0:
                    rotated = api.post("/auth/refresh", json={"refresh_token": self.refresh_token})
                    self.statuses.append(rotated.status_code)
                    if rotated.status_code == 200:
                        self.refresh_token = rotated.json()["refresh_token"]


async def test_three_purges_at_once_beside_traffic_delete_each_expired_row_once(
    tmp_path: Path,
) -> None:
    load_models()
    async with migrated_database(tmp_path) as url:
        engine = create_async_engine(url_string(url))
        try:
            owner = await add_user(engine)
            seeded = await seed_expired(engine, owner, keys=20_000, families=1_000, attempts=3_000)
            await seed_kept(engine, owner, seeded)
            env = {"DATABASE_URL": url_string(url), "WEB_CONCURRENCY": "2"}
            with running_service(env, cwd=tmp_path) as service:
                traffic = Traffic(service.base_url)
                traffic.start()
                assert traffic.ready.wait(60), "the traffic user could not sign in"
                async with engine.connect() as holder:
                    # Ten expired keys locked by another transaction, as a request taking one
                    # over would: the runs skip them instead of waiting.
                    locked = select(IdempotencyKey.id).where(
                        IdempotencyKey.expires_at < utcnow() - timedelta(days=1)
                    )
                    await holder.execute(locked.limit(10).with_for_update())
                    runs = [
                        start_purge(url, tmp_path, PURGE_BATCH_SIZE="50")
                        for _ in range(CONCURRENT_RUNS)
                    ]
                    outputs = [run.communicate(timeout=120) for run in runs]
                    await holder.rollback()
                traffic.stop.set()
                traffic.join(30)
            final = run_purge(url)

            assert [run.returncode for run in runs] == [0] * CONCURRENT_RUNS, outputs
            assert all(err == "" for _, err in outputs), outputs
            purged = [parse_summary(out) for out, _ in outputs]
            assert sum(run.keys > 0 for run in purged) >= 2, f"the runs did not overlap: {purged}"
            assert final.returncode == 0, final.stderr
            last = parse_summary(final.stdout)
            assert last.keys == 10, "the locked keys were left, and the next run takes them"
            assert sum(p.keys for p in purged) + last.keys == seeded.expired_keys
            assert sum(p.tokens for p in purged) + last.tokens == seeded.expired_tokens
            assert sum(p.attempts for p in purged) + last.attempts == seeded.expired_attempts

            # Nothing live was deleted: the seeded survivors and everything the API wrote.
            assert await missing(engine, seeded.kept) == []
            assert traffic.keys, "the API created no task during the purges"
            assert set(traffic.statuses) <= {200, 201}, traffic.statuses
            async with engine.connect() as connection:
                user = select(User.id).where(User.email_normalized == traffic.email)
                keys = await connection.scalar(
                    select(func.count()).where(IdempotencyKey.owner_id.in_(user.scalar_subquery()))
                )
                tokens = await connection.scalar(
                    select(func.count()).where(RefreshToken.user_id.in_(user.scalar_subquery()))
                )
            assert keys == len(traffic.keys)
            assert tokens == 1 + sum(status == 200 for status in traffic.statuses)
        finally:
            await engine.dispose()
