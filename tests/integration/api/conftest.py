"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.api.helpers import LoggedIn, fast_password_hashing, sign_up


@pytest.fixture(autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture
async def alice(client: httpx.AsyncClient, app: FastAPI) -> LoggedIn:
    """A logged-in user."""
    return await sign_up(client, app, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient, app: FastAPI) -> LoggedIn:
    """Another logged-in user."""
    return await sign_up(client, app, "bob")
