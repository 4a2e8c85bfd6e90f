"""Fixtures of the contract tests: the app on the test database and a bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api.helpers import fast_password_hashing


@pytest.fixture(scope="module", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield
