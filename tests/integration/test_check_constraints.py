"""CHECK constraints of the migrations agree with the models (`alembic check` ignores them).

On PostgreSQL: the migrated schema and a schema created from the models in a
database of its own are compared by what PostgreSQL itself makes of each CHECK
(`pg_get_constraintdef`, so spelling differences do not matter); and each
constraint of the migrated schema is proved by an insert that must fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.base import Base
from service.db.engine import create_engine
from service.db.types import utcnow
from service.domains import load_models
from service.domains.users.models import User
from tests.support.apps import make_settings
from tests.support.databases import discard_database, new_database

pytestmark = pytest.mark.postgres

CHECKS = """
SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
WHERE con.contype = 'c' AND ns.nspname = 'public'
"""


async def _checks(connection: AsyncConnection) -> dict[tuple[str, str], str]:
    rows = (await connection.execute(text(CHECKS))).all()
    return {(table, name): definition for table, name, definition in rows}


@pytest.fixture
async def model_checks(tmp_path: Path) -> AsyncIterator[dict[tuple[str, str], str]]:
    """The CHECK constraints of a schema created from the models alone."""
    load_models()
    url = await new_database(tmp_path)
    engine = create_engine(make_settings(url))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            yield await _checks(connection)
    finally:
        await engine.dispose()
        await discard_database(url)


async def _migrated_checks(database_url: URL) -> dict[tuple[str, str], str]:
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.connect() as connection:
            return await _checks(connection)
    finally:
        await engine.dispose()


async def test_the_migrated_checks_are_the_models_checks(
    database_url: URL, model_checks: dict[tuple[str, str], str]
) -> None:
    migrated = await _migrated_checks(database_url)
    assert {"ck_task_status", "ck_task_priority", "ck_task_version_positive"} <= {
        name for _, name in model_checks
    }
    assert migrated == model_checks


async def test_every_model_check_has_a_name_of_the_convention(
    model_checks: dict[tuple[str, str], str],
) -> None:
    for table, name in model_checks:
        assert name.startswith(f"ck_{table}_"), name


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("status", "archived", "ck_task_status"),
        ("priority", "extreme", "ck_task_priority"),
        ("version", 0, "ck_task_version_positive"),
        ("version", -3, "ck_task_version_positive"),
    ],
)
async def test_each_check_of_the_migrated_schema_refuses_its_bad_value(
    database_url: URL, column: str, value: object, constraint: str
) -> None:
    row: dict[str, object] = {
        "id": uuid.uuid4(),
        "title": "probe",
        "status": "todo",
        "priority": "normal",
        "version": 1,
        column: value,
    }
    engine = create_engine(make_settings(database_url))
    try:
        async with engine.connect() as connection:
            owner = uuid.uuid4()
            now = utcnow()
            await connection.execute(
                insert(User),
                {
                    "id": owner,
                    "email": f"{owner.hex}@example.com",
                    "email_normalized": f"{owner.hex}@example.com",
                    "password_hash": "not a hash",
                },
            )
            with pytest.raises(IntegrityError) as refused:
                await connection.execute(
                    text(
                        "INSERT INTO task (id, owner_id, title, status, priority, created_at,"
                        " updated_at, version) VALUES (:id, :owner, :title, :status,"
                        " :priority, :now, :now, :version)"
                    ),
                    {**row, "owner": owner, "now": now},
                )
            await connection.rollback()
    finally:
        await engine.dispose()
    assert constraint in str(refused.value.orig)
