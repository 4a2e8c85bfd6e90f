"""Requests delete no one else's expired rows: cleanup is `tasks-api purge`'s job alone.

A fresh server process, so that nothing done earlier in this test run can have spent a
per-process "purge now and then" allowance: the first create and the first login of the
process are exactly where such a cleanup would run.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.base import Base
from service.db.types import utcnow
from service.domains.tasks.models import IdempotencyKey
from service.domains.users.models import LoginAttempt, RefreshToken, User
from tests.support.databases import url_string
from tests.support.server import running_service

PASSWORD = "a long enough passphrase 42"
LONG_AGO = timedelta(days=30)


async def _seed_expired_rows_of_a_stranger(engine: AsyncEngine) -> None:
    long_ago = utcnow() - LONG_AGO
    stranger = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            insert(User).values(
                id=stranger,
                email="stranger@example.com",
                email_normalized="stranger@example.com",
                password_hash="not-a-hash",
                created_at=long_ago,
                updated_at=long_ago,
            )
        )
        await connection.execute(
            insert(IdempotencyKey).values(
                id=uuid.uuid4(),
                owner_id=stranger,
                key="expired",
                request_fingerprint="0" * 64,
                created_at=long_ago,
                expires_at=long_ago + timedelta(hours=24),
            )
        )
        await connection.execute(
            insert(RefreshToken).values(
                id=uuid.uuid4(),
                user_id=stranger,
                family_id=uuid.uuid4(),
                token_hash="1" * 64,
                created_at=long_ago,
                expires_at=long_ago + timedelta(days=1),
            )
        )
        await connection.execute(
            insert(LoginAttempt).values(
                id=uuid.uuid4(), email_normalized="stranger@example.com", attempted_at=long_ago
            )
        )


async def _count(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as connection:
        statement = select(func.count()).select_from(model)
        return int((await connection.execute(statement)).scalar_one())


def _use_the_api(base_url: str) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as api:
        email = "owner@example.com"
        assert api.post("/users", json={"email": email, "password": PASSWORD}).status_code == 201
        form = {"grant_type": "password", "username": email, "password": PASSWORD}
        login = api.post("/auth/token", data=form)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for n in range(3):
            created = api.post(
                "/tasks",
                json={"title": f"task {n}"},
                headers={**headers, "Idempotency-Key": f"key-{n}"},
            )
            assert created.status_code == 201, created.text
        refreshed = api.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text


async def test_creates_and_logins_leave_expired_rows_to_purge(
    migrated_engine: tuple[URL, AsyncEngine],
) -> None:
    url, engine = migrated_engine
    await _seed_expired_rows_of_a_stranger(engine)

    with running_service({"DATABASE_URL": url_string(url), "WEB_CONCURRENCY": "1"}) as service:
        _use_the_api(service.base_url)

    # The stranger's expired rows are all still there, next to the owner's new ones.
    assert await _count(engine, IdempotencyKey) == 1 + 3
    assert await _count(engine, RefreshToken) == 1 + 2
    assert await _count(engine, LoginAttempt) == 1
