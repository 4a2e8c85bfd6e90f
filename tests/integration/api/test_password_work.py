"""Password work (argon2id at its real cost): bounded per process, refused at once beyond.

Registration takes one hash's time whether or not the e-mail is taken.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.core import security
from service.db.session import WriteSession
from service.domains.users.models import LoginAttempt, User
from tests.integration.api.helpers import register, sign_up, unique_email
from tests.integration.api.login_support import WRONG, login_from
from tests.support.problems import assert_problem

BURST = 12
# The app's admission: PASSWORD_HASH_CONCURRENCY=1 plus PASSWORD_HASH_MAX_WAITING=1.
ADMITTED = 2
TIMING_ROUNDS = 8


@pytest.fixture(autouse=True)
def _real_password_hashing() -> Iterator[None]:
    # Overrides the cheap parameters of the other API tests: the timings are the point.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_hasher", PasswordHasher())
        patch.setattr(security, "_dummy_hash", None)
        yield


async def _timed(request: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request  # type: ignore[misc]
    return response, time.perf_counter() - started


async def _count(session: WriteSession, model: type[LoginAttempt] | type[User]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_password_work_beyond_the_bound_is_refused_at_once(
    client: httpx.AsyncClient, app: FastAPI, db_session: WriteSession
) -> None:
    await login_from(client, app, unique_email("warm-up"), WRONG)  # the dummy hash exists
    burst = await asyncio.gather(
        *(_timed(login_from(client, app, unique_email("burst"), WRONG)) for _ in range(BURST))
    )

    refused = [(r, s) for r, s in burst if r.status_code == 503]
    served = [(r, s) for r, s in burst if r.status_code != 503]
    assert len(refused) >= BURST - ADMITTED, [r.status_code for r, _ in burst]
    assert {r.status_code for r, _ in served} == {400}
    for response, _ in refused:
        body = assert_problem(response, 503, "password_work_busy")
        assert response.headers["retry-after"] == str(body["retry_after"]) == "1"
    # Refused without waiting for any hash, and without recording an attempt.
    assert max(s for _, s in refused) < max(s for _, s in served) / 2
    assert await _count(db_session, LoginAttempt) == 1 + len(served)


async def test_a_busy_registration_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, db_session: WriteSession
) -> None:
    answers = await asyncio.gather(*(register(client, app) for _ in range(BURST)))

    statuses = [r.status_code for r in answers]
    assert set(statuses) == {201, 503}, statuses
    for response in answers:
        if response.status_code == 503:
            assert_problem(response, 503, "password_work_busy")
    assert await _count(db_session, User) == statuses.count(201)


async def test_admission_is_given_back_after_refusals_and_errors(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await asyncio.gather(*(login_from(client, app, unique_email(), WRONG) for _ in range(BURST)))

    # Every slot came back: one at a time, nothing is refused.
    for _ in range(ADMITTED + 1):
        response = await login_from(client, app, unique_email("after"), WRONG)
        assert_problem(response, 400, "invalid_credentials")


async def test_registration_takes_the_same_time_whether_or_not_the_email_is_taken(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    taken_email = unique_email("taken")
    assert (await register(client, app, email=taken_email)).status_code == 201
    taken: list[float] = []
    new: list[float] = []
    for _ in range(TIMING_ROUNDS):  # interleaved: any drift of the machine hits both alike
        response, seconds = await _timed(register(client, app, email=taken_email.upper()))
        assert_problem(response, 409, "email_taken")
        taken.append(seconds)
        response, seconds = await _timed(register(client, app))
        assert response.status_code == 201, response.text
        new.append(seconds)

    ratio = statistics.median(taken) / statistics.median(new)
    assert 0.67 < ratio < 1.5, (taken, new)


async def _server_now(engine: AsyncEngine) -> datetime:
    async with engine.connect() as connection:
        moment: datetime = (await connection.execute(text("SELECT clock_timestamp()"))).scalar_one()
        return moment


async def _idle_in_transaction(engine: AsyncEngine, since: datetime) -> int:
    # Sessions of this database in a transaction begun since the login began, waiting now
    # (for a hash): not those other tests of this run may have left behind.
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid() "
        "AND xact_start >= :since"
    )
    async with engine.connect() as connection:
        return int((await connection.execute(query, {"since": since})).scalar_one())


@pytest.mark.postgres
async def test_no_transaction_is_open_while_a_password_is_verified(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await sign_up(client, app, "verified")
    verifying = threading.Event()
    real_verify = security._verify

    def watched_verify(password_hash: str, password: str) -> bool:
        # A spy: the real verification, flagged while it runs.
        verifying.set()
        try:
            return real_verify(password_hash, password)
        finally:
            verifying.clear()

    monkeypatch.setattr(security, "_verify", watched_verify)
    seen: list[int] = []
    for password in (owner.password, WRONG):
        since = await _server_now(engine)
        login = asyncio.create_task(login_from(client, app, owner.email, password))
        while not login.done():
            if verifying.is_set():
                count = await _idle_in_transaction(engine, since)
                # Only a count taken wholly while the hash ran: once it is done, the
                # login's next transaction may open while the query is on its way.
                if verifying.is_set():
                    seen.append(count)
            await asyncio.sleep(0.002)
        assert (await login).status_code in (200, 400)

    assert len(seen) >= 4, "the verifications ended before they could be watched"
    assert set(seen) == {0}, seen
