"""Fixtures of the contract tests: the app on the test database and a bearer token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi

from service.app import create_app
from service.config import Settings
from service.core.lifecycle import ShutdownState
from tests.integration.api.helpers import PASSWORD, fast_password_hashing
from tests.support.apps import make_settings
from tests.support.server import ServiceProcess, running_service

# The body limit of the served contract runs: small, so that 413 costs little to provoke.
SERVED_BODY_LIMIT = 4096


@pytest.fixture(scope="module", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def contract_app(settings: Settings) -> FastAPI:
    """An app of its own: schemathesis serves it from its own event-loop thread."""
    long_lived = make_settings(
        settings.database_url.get_secret_value(), access_token_ttl_seconds=86_400
    )
    return create_app(long_lived, shutdown=ShutdownState())


@pytest.fixture(scope="module")
def bearer_token(contract_app: FastAPI) -> str:
    """The access token of a freshly registered user."""
    email = f"contract-{uuid.uuid4().hex[:12]}@example.com"
    asgi_app: Any = contract_app
    with asgi.get_client(asgi_app) as client:
        created = client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        form = {"username": email, "password": PASSWORD}
        token = client.post("/api/v1/auth/token", data=form)
        assert token.status_code == 200, token.text
    access_token: str = token.json()["access_token"]
    return access_token


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A real `tasks-api serve` (embedded SQLite, one worker) with a 4 KiB body limit."""
    env = {"REQUEST_BODY_LIMIT_BYTES": str(SERVED_BODY_LIMIT), "WEB_CONCURRENCY": "1"}
    with running_service(env, cwd=tmp_path_factory.mktemp("served")) as running:
        yield running
