"""Concurrent guesses at the last allowed failure: exactly one gets through, on either database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from service.core import security
from service.db.migrate import migrate
from service.domains.users import service as users_service
from service.domains.users.models import LoginAttempt
from service.state import app_state
from tests.integration.api.helpers import unique_email
from tests.integration.api.login_support import WRONG, Clock, fail_times, login_from
from tests.support.apps import asgi_client, make_settings, new_app, started
from tests.support.databases import sqlite_url

CONCURRENT_GUESSES = 8


@pytest.fixture(params=["session database", "sqlite"])
async def limited_app(
    request: pytest.FixtureRequest,
    database_url: URL,
    clean_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[FastAPI]:
    """An app on the session's database (PostgreSQL when available) or on an SQLite file.

    Its password work admits every guess at once, so that only the limits refuse some.
    """
    # The admission bound is per process: the next app's is restored afterwards.
    monkeypatch.setattr(security, "_admission_capacity", security._admission_capacity)
    url: URL | str = database_url
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        await migrate(make_settings(url))
    settings = make_settings(
        url, password_hash_max_waiting=CONCURRENT_GUESSES, max_in_flight=4 * CONCURRENT_GUESSES
    )
    async with started(new_app(settings)) as limited:
        yield limited


async def test_concurrent_guesses_at_the_limit_get_one_try(
    limited_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(users_service, "utcnow", clock)
    email = unique_email("race")
    allowed = users_service.MAX_FAILED_LOGINS
    async with asgi_client(limited_app) as client:
        await fail_times(client, limited_app, email, clock, allowed - 1)
        clock.advance()

        guesses = await asyncio.gather(
            *(login_from(client, limited_app, email, WRONG) for _ in range(CONCURRENT_GUESSES))
        )

    assert Counter(r.status_code for r in guesses) == {400: 1, 429: CONCURRENT_GUESSES - 1}
    async with app_state(limited_app).database.read_sessions() as session:
        stored = await session.scalar(
            select(func.count()).where(LoginAttempt.email_normalized == email)
        )
    assert stored == allowed
