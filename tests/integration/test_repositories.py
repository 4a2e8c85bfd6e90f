"""Repositories on the real database: defaults from the models, one upsert, typed columns."""

from __future__ import annotations

from sqlalchemy import select, text

from service.db.repository import column_values
from service.db.session import WriteSession
from service.domains.tasks.models import Task, TaskPriority, TaskStatus
from service.domains.tasks.repository import TaskRepository
from service.domains.users.models import User
from service.domains.users.repository import UserRepository


def _user(email: str) -> User:
    return User(
        email=email, email_normalized=email.lower(), display_name="Ada", password_hash="x" * 60
    )


def test_column_values_are_the_columns_set_on_the_instance() -> None:
    assert column_values(_user("ada@example.com")) == {
        "email": "ada@example.com",
        "email_normalized": "ada@example.com",
        "display_name": "Ada",
        "password_hash": "x" * 60,
    }


async def test_an_upserted_user_keeps_every_column_and_gets_the_model_defaults(
    db_session: WriteSession,
) -> None:
    stored = await UserRepository(db_session).insert_unless_email_taken(_user("Ada@Example.com"))

    assert stored is not None
    assert (stored.email, stored.email_normalized, stored.display_name) == (
        "Ada@Example.com",
        "ada@example.com",
        "Ada",
    )
    assert stored.id is not None
    assert stored.created_at == stored.updated_at
    await db_session.commit()
    row = (await db_session.execute(text("SELECT display_name FROM app_user"))).one()
    assert row.display_name == "Ada"


async def test_an_upsert_of_a_taken_email_writes_nothing(db_session: WriteSession) -> None:
    users = UserRepository(db_session)
    assert await users.insert_unless_email_taken(_user("bob@example.com")) is not None
    assert await users.insert_unless_email_taken(_user("BOB@example.com")) is None
    emails = (await db_session.scalars(select(User.email))).all()
    assert emails == ["bob@example.com"]


async def test_a_task_gets_its_defaults_and_enum_columns_read_back_as_members(
    db_session: WriteSession,
) -> None:
    owner = await UserRepository(db_session).insert_unless_email_taken(_user("t@example.com"))
    assert owner is not None
    task = await TaskRepository(db_session).add(
        Task(owner_id=owner.id, title="t", status=TaskStatus.DONE, priority=TaskPriority.HIGH)
    )
    await db_session.commit()
    db_session.expunge_all()

    loaded = await TaskRepository(db_session).get(owner.id, task.id)

    assert loaded is not None
    assert loaded.version == 1
    assert loaded.created_at == loaded.updated_at
    assert isinstance(loaded.status, TaskStatus) and loaded.status is TaskStatus.DONE
    assert isinstance(loaded.priority, TaskPriority) and loaded.priority is TaskPriority.HIGH
    stored = (await db_session.execute(text("SELECT status, priority FROM task"))).one()
    assert tuple(stored) == ("done", "high")


async def test_an_update_moves_updated_at_by_itself(db_session: WriteSession) -> None:
    owner = await UserRepository(db_session).insert_unless_email_taken(_user("u@example.com"))
    assert owner is not None
    tasks = TaskRepository(db_session)
    task = await tasks.add(
        Task(owner_id=owner.id, title="t", status=TaskStatus.TODO, priority=TaskPriority.LOW)
    )
    created_at = task.created_at

    updated = await tasks.update(
        owner.id,
        task.id,
        {"status": TaskStatus.IN_PROGRESS},
        token_version=owner.token_version,
        expected_versions=None,
    )

    assert updated is not None
    assert updated.status is TaskStatus.IN_PROGRESS
    assert updated.version == 2
    assert updated.updated_at > created_at
