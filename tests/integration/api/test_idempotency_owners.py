"""Idempotency keys are per owner in every statement: claim, stored response, replay."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from service.db.session import WriteSession
from service.domains.tasks.models import IdempotencyKey
from tests.integration.api.helpers import LoggedIn
from tests.integration.api.test_idempotency import post
from tests.support.problems import assert_problem

KEY = "monthly-report"


async def test_after_another_user_posts_the_key_each_replay_returns_its_own_task(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    mine = await post(client, app, alice, KEY, {"title": "alice's report"})
    theirs = await post(client, app, bob, KEY, {"title": "bob's report"})
    my_replay = await post(client, app, alice, KEY, {"title": "alice's report"})
    their_replay = await post(client, app, bob, KEY, {"title": "bob's report"})

    assert mine.status_code == theirs.status_code == 201
    assert "idempotency-replayed" not in theirs.headers
    assert my_replay.headers["idempotency-replayed"] == "true"
    assert my_replay.json() == mine.json()
    assert my_replay.json()["title"] == "alice's report"
    assert my_replay.headers["location"] == mine.headers["location"]
    assert their_replay.json() == theirs.json()
    assert their_replay.json()["id"] != mine.json()["id"]


async def test_each_owner_s_key_row_holds_its_own_response(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    bob: LoggedIn,
    db_session: WriteSession,
) -> None:
    mine = await post(client, app, alice, KEY, {"title": "first"})
    theirs = await post(client, app, bob, KEY, {"title": "second"})

    rows = (
        await db_session.execute(select(IdempotencyKey).where(IdempotencyKey.key == KEY))
    ).scalars()
    by_owner = {row.owner_id: row.response_body for row in rows}
    assert by_owner == {
        uuid.UUID(alice.user["id"]): mine.json(),
        uuid.UUID(bob.user["id"]): theirs.json(),
    }


async def test_another_user_s_body_is_not_compared_with_mine(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, bob: LoggedIn
) -> None:
    await post(client, app, bob, KEY, {"title": "bob's body"})
    mine = await post(client, app, alice, KEY, {"title": "alice's body"})
    reused = await post(client, app, alice, KEY, {"title": "bob's body"})

    assert mine.status_code == 201
    assert "idempotency-replayed" not in mine.headers
    # Alice's own first body decides: bob's body under alice's key is a reuse.
    assert_problem(reused, 422, "idempotency_key_reused")
