"""DATABASE_URL: libpq URLs normalised to asyncpg, unsupported parameters refused by name."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from service.config import Settings
from service.db.dialect import is_embedded
from service.db.url import normalise_database_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://app:pw@db:5432/app", "postgresql+asyncpg://app:pw@db:5432/app"),
        ("postgres://app:pw@db/app", "postgresql+asyncpg://app:pw@db/app"),
        (
            "postgresql://app:pw@db/app?sslmode=verify-full",
            "postgresql+asyncpg://app:pw@db/app?ssl=verify-full",
        ),
        (
            "postgres://app@db/app?sslmode=require&target_session_attrs=read-write",
            "postgresql+asyncpg://app@db/app?ssl=require&target_session_attrs=read-write",
        ),
        # A password with URL-escaped characters stays escaped.
        ("postgresql://app:p%40ss%2Fw@db/app", "postgresql+asyncpg://app:p%40ss%2Fw@db/app"),
    ],
)
def test_libpq_urls_become_asyncpg_urls(raw: str, expected: str) -> None:
    assert normalise_database_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql+asyncpg://app:pw@db/app?prepared_statement_cache_size=0",
        "sqlite+aiosqlite:///./tasks.db",
    ],
)
def test_sqlalchemy_urls_are_kept_as_given(raw: str) -> None:
    assert normalise_database_url(raw) == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://root@db/tasks", "use postgresql://, postgres://, postgresql+asyncpg://"),
        ("postgresql+psycopg://app@db/app", "use postgresql://"),
        ("not a url", "not a database URL"),
        ("postgresql://app@db/app?sslmode=on", "sslmode=on is not one of allow, disable"),
        (
            "postgresql://app@db/app?sslrootcert=/ca.pem",
            "sslrootcert is not supported: set PGSSLROOTCERT",
        ),
        ("postgresql://app@db/app?connect_timeout=5", "use DB_CONNECT_TIMEOUT_SECONDS"),
        ("postgresql://app@db/app?options=-c%20x%3D1", "unsupported query parameter options"),
        (
            "postgresql://app@db/app?sslmode=require&sslmode=disable",
            "sslmode is given more than once",
        ),
        ("postgresql://app@db/app?target_session_attrs=leader", "target_session_attrs=leader"),
    ],
)
def test_unsupported_urls_are_refused_by_name(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        normalise_database_url(raw)


def test_the_error_never_repeats_the_password() -> None:
    with pytest.raises(ValueError, match="sslkey") as error:
        normalise_database_url("postgresql://app:hunter2@db/app?sslkey=/k")
    assert "hunter2" not in str(error.value)


def test_settings_hold_the_normalised_url() -> None:
    settings = Settings(database_url="postgres://app:hunter2@db:5432/app?sslmode=require")
    assert settings.database_url.get_secret_value() == (
        "postgresql+asyncpg://app:hunter2@db:5432/app?ssl=require"
    )
    assert "hunter2" not in settings.safe_database_url
    assert not is_embedded(settings)


def test_settings_refuse_an_unsupported_parameter() -> None:
    with pytest.raises(ValidationError, match="unsupported query parameter gssencmode"):
        Settings(database_url="postgresql://app@db/app?gssencmode=disable")
