"""The base of every repository: the request's session, and what every model's queries share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert

from service.db import dialect
from service.db.base import Base

ModelT = TypeVar("ModelT", bound=Base)


def column_values(instance: Base) -> dict[str, Any]:
    """The column values set on a model instance; columns left unset get their defaults."""
    state = inspect(instance)
    return {
        attribute.key: state.dict[attribute.key]
        for attribute in state.mapper.column_attrs
        if attribute.key in state.dict
    }


class RepositoryBase(Generic[ModelT]):
    """Queries of one model on one session; a subclass names its `model` and adds its queries.

    Repositories never commit: the request's session does, before the response.
    """

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, id_: Any) -> ModelT | None:
        """The row with this primary key, if any."""
        return await self.session.get(self.model, id_)

    def stage(self, instance: ModelT) -> None:
        """Add a new row, written with the next flush (at the latest when the request commits)."""
        self.session.add(instance)

    async def add(self, instance: ModelT) -> ModelT:
        """Insert a new row now, so that errors surface inside the request; defaults are set."""
        self.session.add(instance)
        await self.session.flush()
        return instance

    def insert_on_conflict(
        self,
        instance: ModelT,
        *,
        conflict: Sequence[InstrumentedAttribute[Any]],
        update: Sequence[str] = (),
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        """INSERT the instance's columns; on a conflict do nothing or take the row over.

        See `service.db.dialect.insert_on_conflict`.
        """
        return dialect.insert_on_conflict(
            self.session,
            self.model,
            column_values(instance),
            conflict=conflict,
            update=update,
            where=where,
        )

    async def lock_until_commit(self, namespace: int, key: str) -> None:
        """Serialise the transactions that lock (namespace, key) until this one ends."""
        await dialect.lock_until_commit(self.session, namespace, key)
