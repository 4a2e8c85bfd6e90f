"""Idempotency-Key on POST /tasks: replay, reuse with another body, expiry, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.config import Settings
from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.tasks.models import IdempotencyKey, Task
from tests.integration.api.helpers import LoggedIn, sign_up
from tests.support.apps import make_settings, new_app, serving
from tests.support.problems import assert_problem


async def post(
    client: httpx.AsyncClient,
    app: FastAPI,
    user: LoggedIn,
    key: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST /tasks with an Idempotency-Key."""
    return await client.post(
        app.url_path_for("createTask"),
        json=body or {"title": "pay the invoice"},
        headers={**user.headers, "Idempotency-Key": key},
    )


async def count_tasks(session: AsyncSession, user: LoggedIn) -> int:
    """How many tasks a user owns."""
    owner = uuid.UUID(user.user["id"])
    return int(await session.scalar(select(func.count()).where(Task.owner_id == owner)) or 0)


async def test_same_key_same_body_replays_without_a_new_row(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    first = await post(client, app, alice, "invoice-42")
    # The same body, written differently, is the same request.
    replay = await post(
        client, app, alice, "invoice-42", {"title": " pay the invoice ", "status": "todo"}
    )

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["etag"] == first.headers["etag"]
    assert await count_tasks(db_session, alice) == 1


async def test_same_key_other_body_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    await post(client, app, alice, "k")

    response = await post(client, app, alice, "k", {"title": "something else"})

    assert_problem(response, 422, "idempotency_key_reused")
    assert await count_tasks(db_session, alice) == 1


async def test_keys_are_per_user(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    mine = await post(client, app, alice, "shared-key")
    theirs = await post(client, app, bob, "shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotency-replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", " padded", "tab\tkey"])
async def test_invalid_keys_are_422(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession, key: str
) -> None:
    response = await client.post(
        app.url_path_for("createTask"),
        json={"title": "t"},
        headers=[
            *((name.encode(), value.encode()) for name, value in alice.headers.items()),
            (b"Idempotency-Key", key.encode()),
        ],
    )

    assert_problem(response, 422, "validation_failed")
    assert await count_tasks(db_session, alice) == 0


async def test_a_replay_survives_later_changes_to_the_task(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    first = await post(client, app, alice, "k")
    await client.patch(first.headers["location"], json={"title": "renamed"}, headers=alice.headers)

    replay = await post(client, app, alice, "k")

    assert replay.json() == first.json()


async def test_an_invalid_first_request_does_not_consume_the_key(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    assert (await post(client, app, alice, "k", {"title": ""})).status_code == 422

    response = await post(client, app, alice, "k")

    assert response.status_code == 201
    assert "idempotency-replayed" not in response.headers


async def test_an_expired_key_starts_afresh(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    first = await post(client, app, alice, "k")
    await db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "k")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await db_session.commit()

    second = await post(client, app, alice, "k", {"title": "a new request"})

    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert "idempotency-replayed" not in second.headers


@pytest.mark.postgres
async def test_twenty_concurrent_duplicates_create_exactly_one_task(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    user = await sign_up(client, app, "racer")
    body = {"title": "only once", "priority": "urgent"}

    responses = await asyncio.gather(
        *(post(client, app, user, "race-key", body) for _ in range(20))
    )

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    originals = [
        r for r in responses if r.status_code == 201 and "idempotency-replayed" not in r.headers
    ]
    replays = [r for r in responses if r.headers.get("idempotency-replayed") == "true"]
    assert len(originals) == 1
    assert all(replay.json() == originals[0].json() for replay in replays)
    async with engine.connect() as connection:
        owner = uuid.UUID(user.user["id"])
        rows = await connection.scalar(select(func.count()).where(Task.owner_id == owner))
        keys = await connection.scalar(select(func.count()).where(IdempotencyKey.owner_id == owner))
    assert rows == 1
    assert keys == 1


@pytest.mark.postgres
async def test_a_duplicate_waiting_longer_than_the_statement_timeout_is_409(
    settings: Settings, engine: AsyncEngine
) -> None:
    impatient = new_app(
        make_settings(settings.database_url.get_secret_value(), db_statement_timeout_ms=300)
    )
    async with serving(impatient) as http:
        user = await sign_up(http, impatient, "patient")
        owner = uuid.UUID(user.user["id"])
        async with engine.connect() as holder:
            # Another request's claim, still in flight (uncommitted) while the duplicate arrives.
            now = utcnow()
            await holder.execute(
                insert(IdempotencyKey).values(
                    id=uuid.uuid4(),
                    owner_id=owner,
                    key="slow",
                    request_fingerprint="0" * 64,
                    created_at=now,
                    expires_at=now + timedelta(hours=24),
                )
            )
            started = asyncio.get_running_loop().time()
            response = await post(http, impatient, user, "slow")
            waited = asyncio.get_running_loop().time() - started
            await holder.rollback()

        assert_problem(response, 409, "idempotency_key_in_progress")
        assert 0.25 < waited < 5
        # Once the holder is gone the key is free again.
        assert (await post(http, impatient, user, "slow")).status_code == 201
