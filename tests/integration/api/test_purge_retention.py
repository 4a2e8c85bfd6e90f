"""Purge keeps what live flows need: reuse detection and idempotent replays survive a run."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from service.config import Settings
from service.core import security
from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.tasks.models import IdempotencyKey
from service.domains.users.models import RefreshToken
from tests.integration.api.helpers import LoggedIn
from tests.support.purge_rows import Purged, parse_summary, run_purge


def _purge(settings: Settings) -> Purged:
    result = run_purge(make_url(settings.database_url.get_secret_value()))
    assert result.returncode == 0, result.stderr
    return parse_summary(result.stdout)


async def _refresh(client: httpx.AsyncClient, app: FastAPI, token: str) -> httpx.Response:
    return await client.post(app.url_path_for("refreshToken"), json={"refresh_token": token})


async def test_a_used_expired_token_of_a_live_family_still_reveals_reuse(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    settings: Settings,
) -> None:
    first = alice.tokens["refresh_token"]
    rotated = await _refresh(client, app, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    # The first token expired long ago; the family lives on in the second one.
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == security.hash_refresh_token(first))
        .values(expires_at=utcnow() - timedelta(days=1))
    )
    await db_session.commit()

    assert _purge(settings).tokens == 0

    # Someone replays the stolen first token: reuse, so the whole family is revoked.
    assert (await _refresh(client, app, first)).status_code != 200
    assert (await _refresh(client, app, second)).status_code != 200
    unrevoked = await db_session.scalar(
        select(func.count()).where(RefreshToken.revoked_at.is_(None))
    )
    assert unrevoked == 0


async def test_a_key_inside_its_lifetime_is_still_replayed_after_a_purge(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    settings: Settings,
) -> None:
    body = {"title": "pay the invoice"}
    url = app.url_path_for("createTask")
    created = {}
    for key in ("old", "pay-once"):
        headers = {**alice.headers, "Idempotency-Key": key}
        created[key] = await client.post(url, json=body, headers=headers)
        assert created[key].status_code == 201, created[key].text
    now = utcnow()
    for key, expires_at in (
        ("old", now - timedelta(days=2)),
        ("pay-once", now + timedelta(minutes=1)),
    ):
        await db_session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(expires_at=expires_at)
        )
    await db_session.commit()

    assert _purge(settings).keys == 1

    headers = {**alice.headers, "Idempotency-Key": "pay-once"}
    replay = await client.post(url, json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == created["pay-once"].json()["id"]
    assert replay.headers["idempotency-replayed"] == "true"
