"""Registrations per client address: counted whatever the answer, refused beyond the limit.

201 and 409 both count (the status tells a taken e-mail from a new one, so the limit
bounds enumeration too); beyond REGISTRATION_MAX_PER_ADDRESS within the hour the answer
is 429 before any password work or user lookup. On the session's database (PostgreSQL
when available) and on an SQLite file.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from service.core import security
from service.db.migrate import migrate
from service.domains.users import service as users_service
from service.domains.users.models import User
from service.state import app_state
from tests.integration.api.helpers import register, unique_email
from tests.integration.api.login_support import STEP, Clock, client_from
from tests.integration.api.test_security_events import counted, security_lines
from tests.support.apps import make_settings, new_app, started
from tests.support.databases import sqlite_url
from tests.support.problems import assert_problem

LIMIT = 3
WINDOW = timedelta(hours=1)
BURST = 8
SIGNUP = "198.51.100.7"
NEIGHBOUR = "198.51.100.8"


class CountingHasher(PasswordHasher):
    """argon2id at the tests' cheap cost that counts the hashes it made."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.hashes = 0
        self._lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._lock:
            self.hashes += 1
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(security, "_hasher", counting)
    return counting


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The users domain's clock, under the test's control."""
    controlled = Clock()
    monkeypatch.setattr(users_service, "utcnow", controlled)
    return controlled


@pytest.fixture(params=["session database", "sqlite"])
async def limited_app(
    request: pytest.FixtureRequest,
    database_url: URL,
    clean_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[FastAPI]:
    """An app with a registration limit of LIMIT that admits a whole burst's password work."""
    # The admission bound is per process: the next app's is restored afterwards.
    monkeypatch.setattr(security, "_admission_capacity", security._admission_capacity)
    url: URL | str = database_url
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        await migrate(make_settings(url))
    settings = make_settings(
        url,
        registration_max_per_address=LIMIT,
        password_hash_max_waiting=BURST,
        max_in_flight=4 * BURST,
    )
    async with started(new_app(settings)) as app:
        yield app


@pytest.fixture
async def signup(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(limited_app, SIGNUP) as client:
        yield client


async def _users(app: FastAPI, *emails: str) -> int:
    async with app_state(app).database.read_sessions() as session:
        statement = select(func.count()).select_from(User)
        if emails:
            statement = statement.where(User.email_normalized.in_(emails))
        return int(await session.scalar(statement) or 0)


async def _use_up_the_limit(client: httpx.AsyncClient, app: FastAPI, clock: Clock) -> str:
    # A new e-mail (201), the same again (409), and new ones up to the limit: all count.
    email = unique_email("first")
    answers = [await register(client, app, email=email)]
    clock.advance()
    answers.append(await register(client, app, email=email.upper()))
    for _ in range(LIMIT - 2):
        clock.advance()
        answers.append(await register(client, app))
    assert [r.status_code for r in answers] == [201, 409] + [201] * (LIMIT - 2)
    return email


async def test_registrations_within_the_limit_answer_as_before(
    signup: httpx.AsyncClient, limited_app: FastAPI, clock: Clock, hasher: CountingHasher
) -> None:
    email = await _use_up_the_limit(signup, limited_app, clock)

    # Each registration hashed once, taken e-mail or not; one user per new e-mail.
    assert hasher.hashes == LIMIT
    assert await _users(limited_app) == LIMIT - 1
    assert await _users(limited_app, email) == 1


async def test_beyond_the_limit_is_429_before_any_hash_or_lookup(
    signup: httpx.AsyncClient, limited_app: FastAPI, clock: Clock, hasher: CountingHasher
) -> None:
    taken = await _use_up_the_limit(signup, limited_app, clock)
    hashed = hasher.hashes
    clock.advance()

    fresh = unique_email("over")
    refused_new = await register(signup, limited_app, email=fresh)
    refused_taken = await register(signup, limited_app, email=taken)

    body = assert_problem(refused_new, 429, "too_many_registrations")
    # The oldest of the counted attempts was LIMIT steps ago; the limit lifts when it
    # leaves the window.
    expected = int((WINDOW - LIMIT * STEP).total_seconds())
    assert refused_new.headers["retry-after"] == str(expected) == str(body["retry_after"])
    # A taken e-mail gets the same answer: the limited client learns nothing.
    taken_body = assert_problem(refused_taken, 429, "too_many_registrations")
    assert refused_taken.headers["retry-after"] == str(expected)
    assert {k: v for k, v in taken_body.items() if k not in ("instance", "request_id")} == {
        k: v for k, v in body.items() if k not in ("instance", "request_id")
    }
    assert hasher.hashes == hashed, "a refused registration hashed its password"
    assert await _users(limited_app, fresh) == 0
    assert await _users(limited_app) == LIMIT - 1


async def test_another_address_is_not_limited(
    signup: httpx.AsyncClient, limited_app: FastAPI, clock: Clock, hasher: CountingHasher
) -> None:
    await _use_up_the_limit(signup, limited_app, clock)
    assert_problem(await register(signup, limited_app), 429, "too_many_registrations")

    async with client_from(limited_app, NEIGHBOUR) as neighbour:
        email = unique_email("neighbour")
        created = await register(neighbour, limited_app, email=email)

    assert created.status_code == 201, created.text
    assert await _users(limited_app, email) == 1


async def test_the_limit_lifts_when_the_oldest_attempt_leaves_the_window(
    signup: httpx.AsyncClient, limited_app: FastAPI, clock: Clock, hasher: CountingHasher
) -> None:
    await _use_up_the_limit(signup, limited_app, clock)
    clock.advance(WINDOW - (LIMIT - 1) * STEP - timedelta(seconds=1))
    still = await register(signup, limited_app)
    assert_problem(still, 429, "too_many_registrations")
    assert still.headers["retry-after"] == "1"

    clock.advance(timedelta(seconds=1))
    email = unique_email("later")
    created = await register(signup, limited_app, email=email)

    assert created.status_code == 201, created.text
    # Refused attempts did not count: one left the window, one more is allowed, no more.
    assert_problem(await register(signup, limited_app), 429, "too_many_registrations")


async def test_a_concurrent_burst_from_one_address_stays_within_the_limit(
    signup: httpx.AsyncClient, limited_app: FastAPI, hasher: CountingHasher
) -> None:
    emails = [unique_email("burst") for _ in range(BURST)]

    answers = await asyncio.gather(
        *(register(signup, limited_app, email=email) for email in emails)
    )

    assert Counter(r.status_code for r in answers) == {201: LIMIT, 429: BURST - LIMIT}
    assert await _users(limited_app, *emails) == LIMIT
    assert hasher.hashes == LIMIT


async def test_the_429_is_documented_on_the_register_operation(limited_app: FastAPI) -> None:
    document: dict[str, Any] = limited_app.openapi()
    responses = document["paths"]["/api/v1/users"]["post"]["responses"]

    assert "application/problem+json" in responses["429"]["content"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True


async def test_a_refused_registration_is_a_security_event_with_the_address(
    signup: httpx.AsyncClient,
    limited_app: FastAPI,
    clock: Clock,
    capfd: pytest.CaptureFixture[str],
) -> None:
    await _use_up_the_limit(signup, limited_app, clock)
    before = counted("registration_limited")
    capfd.readouterr()

    email = unique_email("limited")
    assert_problem(await register(signup, limited_app, email=email), 429, "too_many_registrations")

    captured = capfd.readouterr().out
    (line,) = security_lines(captured)
    assert line["event"] == "security.registration_limited"
    assert (line["client"], line["level"], line["logger"]) == (
        SIGNUP,
        "warning",
        "service.security",
    )
    assert line["retry_after_seconds"] > 0
    assert email not in captured and email.split("@")[0] not in captured
    assert counted("registration_limited") == before + 1
