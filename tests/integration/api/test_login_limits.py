"""Login limits: per e-mail and address, per address, per e-mail; back-off; Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from service.db.session import WriteSession
from service.domains.users import service as users_service
from service.domains.users.limits import LOGIN_WINDOW
from service.domains.users.models import LoginAttempt
from tests.integration.api.helpers import LoggedIn, unique_email
from tests.integration.api.login_support import (
    WRONG,
    Clock,
    client_from,
    fail_times,
    login_from,
    seed_failures,
)
from tests.support.apps import make_settings, new_app, started
from tests.support.problems import assert_problem

OWNER = "127.0.0.1"  # the address of the default test client
ATTACKER = "203.0.113.66"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The login flow's clock, under the test's control (no sleeping through back-offs)."""
    controlled = Clock()
    monkeypatch.setattr(users_service, "utcnow", controlled)
    return controlled


@pytest.fixture
async def attacker(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from another address than the owner's."""
    async with client_from(app, ATTACKER) as client:
        yield client


async def _count(session: WriteSession, email: str) -> int:
    statement = select(func.count()).where(LoginAttempt.email_normalized == email)
    return int(await session.scalar(statement) or 0)


async def test_another_address_cannot_lock_the_owner_out(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    attacker: httpx.AsyncClient,
    clock: Clock,
) -> None:
    await fail_times(attacker, app, alice.email, clock, users_service.MAX_FAILED_LOGINS)

    # The attacker's address is limited, even with the right password ...
    assert_problem(await login_from(attacker, app, alice.email), 429, "too_many_attempts")
    # ... the owner, from their own address, is not.
    owner = await login_from(client, app, alice.email)
    assert owner.status_code == 200, owner.text


async def test_failures_from_one_address_stop_at_its_limit(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    clock: Clock,
) -> None:
    await fail_times(client, app, alice.email, clock, users_service.MAX_FAILED_LOGINS)

    locked = await login_from(client, app, alice.email.upper())

    body = assert_problem(locked, 429, "too_many_attempts")
    retry_after = int(locked.headers["retry-after"])
    # The first of the ten failures was nine steps (549 s) ago.
    assert 900 - 549 - 1 <= retry_after <= 900 - 549 + 1
    assert body["retry_after"] == retry_after
    # Rejected attempts do not extend the limit.
    assert await _count(db_session, alice.email) == users_service.MAX_FAILED_LOGINS


async def test_retry_after_counts_from_the_oldest_failure_of_the_window(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    clock: Clock,
) -> None:
    # Ten failures spread over the window: 14 minutes ago down to 5 minutes ago.
    spread = [clock.now - timedelta(minutes=14) + i * timedelta(minutes=1) for i in range(10)]
    await seed_failures(db_session, alice.email, OWNER, spread)

    locked = await login_from(client, app, alice.email)

    assert_problem(locked, 429, "too_many_attempts")
    # The limit lifts when the oldest failure leaves the window: in one minute, not in ten.
    assert 59 <= int(locked.headers["retry-after"]) <= 61


async def test_backoff_doubles_after_half_of_the_limit(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, clock: Clock
) -> None:
    for _ in range(5):
        assert (await login_from(client, app, alice.email, WRONG)).status_code == 400
    for wait in (1, 2, 4):
        early = await login_from(client, app, alice.email)
        assert_problem(early, 429, "too_many_attempts")
        assert early.headers["retry-after"] == str(wait)
        clock.advance(timedelta(seconds=wait))
        assert (await login_from(client, app, alice.email, WRONG)).status_code == 400


async def test_the_limit_lifts_when_the_window_passes(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    db_session: WriteSession,
    clock: Clock,
) -> None:
    old = clock.now - LOGIN_WINDOW - timedelta(seconds=1)
    await seed_failures(db_session, alice.email, OWNER, [old] * 10)
    assert (await login_from(client, app, alice.email)).status_code == 200

    recent = clock.now - LOGIN_WINDOW + timedelta(seconds=120)
    await seed_failures(db_session, alice.email, OWNER, [recent] * 10)
    locked = await login_from(client, app, alice.email)
    assert_problem(locked, 429, "too_many_attempts")
    assert 119 <= int(locked.headers["retry-after"]) <= 121


async def test_unknown_emails_are_limited_like_known_ones(
    client: httpx.AsyncClient, app: FastAPI, clock: Clock
) -> None:
    ghost = unique_email("ghost")
    await fail_times(client, app, ghost, clock, users_service.MAX_FAILED_LOGINS)

    assert_problem(await login_from(client, app, ghost, WRONG), 429, "too_many_attempts")


async def test_one_address_is_limited_across_emails(
    database_url: URL, clock: Clock, clean_database: None
) -> None:
    settings = make_settings(database_url, login_max_failures_per_address=4)
    async with (
        started(new_app(settings)) as app,
        client_from(app, ATTACKER) as sprayer,
        client_from(app, OWNER) as other,
    ):
        for _ in range(4):
            await fail_times(sprayer, app, unique_email("spray"), clock, 1)

        fresh = unique_email("spray")
        assert_problem(await login_from(sprayer, app, fresh, WRONG), 429, "too_many_attempts")
        # The same e-mail from another address is only a wrong password.
        assert_problem(await login_from(other, app, fresh, WRONG), 400, "invalid_credentials")


async def test_the_per_email_ceiling_holds_across_addresses(
    database_url: URL, clock: Clock, alice: LoggedIn, bob: LoggedIn
) -> None:
    settings = make_settings(database_url, login_max_failures_per_account=3)
    async with started(new_app(settings)) as app:
        for number in range(3):
            async with client_from(app, f"198.51.100.{number}") as guesser:
                await fail_times(guesser, app, alice.email, clock, 1)

        async with client_from(app, "198.51.100.200") as fourth:
            assert_problem(await login_from(fourth, app, alice.email), 429, "too_many_attempts")
            # Another e-mail from that address is not concerned.
            assert (await login_from(fourth, app, bob.email)).status_code == 200


def _ratelimit(response: httpx.Response) -> tuple[str, str]:
    return response.headers["ratelimit-policy"], response.headers["ratelimit"]


POLICY = '"login";q=10;w=900, "login-address";q=100;w=900'


async def test_a_login_reports_its_limits_in_ratelimit_fields(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, clock: Clock
) -> None:
    clock.advance()
    response = await login_from(client, app, alice.email)

    assert response.status_code == 200, response.text
    # The owner's own failures from this address are forgotten once they log in.
    assert _ratelimit(response) == (POLICY, '"login";r=10;t=0, "login-address";r=100;t=0')


async def test_a_wrong_password_spends_one_unit_of_each_limit(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, clock: Clock
) -> None:
    await fail_times(client, app, alice.email, clock, 1)
    clock.advance()

    response = await login_from(client, app, alice.email, WRONG)

    assert_problem(response, 400, "invalid_credentials")
    # Two failures; the quota comes back when the first (61 s ago) leaves the window.
    assert _ratelimit(response) == (POLICY, '"login";r=8;t=839, "login-address";r=98;t=839')


async def test_a_limited_login_reports_an_empty_quota(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, clock: Clock
) -> None:
    await fail_times(client, app, alice.email, clock, users_service.MAX_FAILED_LOGINS)

    response = await login_from(client, app, alice.email)

    assert_problem(response, 429, "too_many_attempts")
    policy, state = _ratelimit(response)
    assert policy == POLICY
    assert (
        state
        == f'"login";r=0;t={response.headers["retry-after"]}, "login-address";r=90;t='
        + (response.headers["retry-after"])
    )
