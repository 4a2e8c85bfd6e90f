"""Helpers of the API tests: cheap password hashing, users and their tokens, statements sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import delete, event, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.core import security
from service.domains.users.models import User

PASSWORD = "correct horse battery"
# argon2id with tiny costs: the production parameters take ~0.5 s per hash on CI machines.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@contextmanager
def fast_password_hashing() -> Iterator[None]:
    """Use cheap argon2id parameters while the block runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_hasher", FAST_HASHER)
        patch.setattr(security, "_dummy_hash", None)
        yield


def unique_email(prefix: str = "user") -> str:
    """An e-mail address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


@dataclass(frozen=True)
class LoggedIn:
    """A registered user with a fresh token pair."""

    email: str
    password: str
    user: dict[str, Any]
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of the access token."""
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def register(
    client: httpx.AsyncClient,
    app: FastAPI,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> httpx.Response:
    """POST /users."""
    body: dict[str, Any] = {
        "email": unique_email() if email is None else email,
        "password": password,
    }
    if display_name is not None:
        body["display_name"] = display_name
    return await client.post(app.url_path_for("createUser"), json=body)


async def login(
    client: httpx.AsyncClient, app: FastAPI, email: str, password: str = PASSWORD
) -> httpx.Response:
    """POST /auth/token with the OAuth2 password grant form."""
    form = {"grant_type": "password", "username": email, "password": password}
    return await client.post(app.url_path_for("issueToken"), data=form)


async def sign_up(client: httpx.AsyncClient, app: FastAPI, prefix: str = "user") -> LoggedIn:
    """Register a new user and log in."""
    email = unique_email(prefix)
    created = await register(client, app, email=email)
    assert created.status_code == 201, created.text
    token = await login(client, app, email)
    assert token.status_code == 200, token.text
    return LoggedIn(email=email, password=PASSWORD, user=created.json(), tokens=token.json())


@contextmanager
def counted_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def revoke_tokens(session: AsyncSession, user: LoggedIn) -> None:
    """Raise the user's token version (as a reused refresh token does) and commit."""
    await session.execute(
        update(User).where(User.email == user.email).values(token_version=User.token_version + 1)
    )
    await session.commit()


async def remove_user(session: AsyncSession, user: LoggedIn) -> None:
    """Delete the user (and, by cascade, its tasks) and commit."""
    await session.execute(delete(User).where(User.email == user.email))
    await session.commit()
