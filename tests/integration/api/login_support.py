"""Support of the login-limit tests: a controlled clock, clients from given addresses, seeding."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI

from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.users.models import LoginAttempt
from tests.integration.api.helpers import PASSWORD
from tests.support.apps import asgi_client

# Longer than the longest back-off: consecutive failures one step apart never wait.
STEP = timedelta(seconds=61)
WRONG = "not the password at all"


class Clock:
    """The time the login flow reads (service.domains.users.service.utcnow), moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = STEP) -> None:
        """Move the clock forward."""
        self.now += delta


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client of the app whose requests come from this address (request.client)."""
    return asgi_client(app, client=(address, 50_000))


async def login_from(
    client: httpx.AsyncClient, app: FastAPI, email: str, password: str = PASSWORD
) -> httpx.Response:
    """POST /auth/token with the password grant form."""
    form = {"grant_type": "password", "username": email, "password": password}
    return await client.post(app.url_path_for("issueToken"), data=form)


async def fail_times(
    client: httpx.AsyncClient, app: FastAPI, email: str, clock: Clock, times: int
) -> None:
    """Fail `times` logins for the e-mail, one clock step apart; each must be a 400."""
    for _ in range(times):
        clock.advance()
        response = await login_from(client, app, email, WRONG)
        assert response.status_code == 400, response.text


async def seed_failures(
    session: WriteSession, email: str, address: str, times: Iterable[datetime]
) -> None:
    """Store failed logins directly, committed."""
    session.add_all(
        LoginAttempt(email_normalized=email, client_address=address, attempted_at=at)
        for at in times
    )
    await session.commit()
