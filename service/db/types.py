"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from service.db.dialect import keeps_time_zones


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, with microseconds."""
    return datetime.now(UTC)


def same_as_created_at(context: Any) -> datetime:
    """A new row's updated_at: its created_at (one moment, not two readings of the clock)."""
    created = context.get_current_parameters().get("created_at")
    return created if isinstance(created, datetime) else utcnow()


def str_enum(enum: type[StrEnum], length: int) -> SqlEnum:
    """A column of a StrEnum's values in VARCHAR(length), read back as members.

    The table declares its own named CHECK constraint; the type adds none.
    """
    return SqlEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so values are normalised to UTC before they are
    written (its text form then sorts chronologically) and UTC is attached again
    when they are read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Reject naive datetimes and convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC timestamp column")
        value = value.astimezone(UTC)
        return value if keeps_time_zones(dialect) else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns, convert PostgreSQL values to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
