"""The application's state, typed: what the factory and the lifespan keep on the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from service.config import Settings
from service.core.lifecycle import ShutdownState
from service.db.revision import RevisionProbe
from service.db.session import Database

if TYPE_CHECKING:
    from service.db.migrate import SchemaState

_KEY = "tasks_api"


@dataclass
class AppState:
    """Settings and shutdown from the app factory; the database from the lifespan."""

    settings: Settings
    shutdown: ShutdownState
    # Set by the telemetry: where each readiness verdict and schema state goes.
    on_readiness: Callable[[bool], None] | None = None
    on_schema_state: Callable[[SchemaState], None] | None = None
    # The readiness check's reader of the schema revision (one statement once known).
    revision_probe: RevisionProbe = field(default_factory=RevisionProbe)
    _database: Database | None = field(default=None, repr=False)

    @property
    def database(self) -> Database:
        """The database of this worker; RuntimeError before the lifespan opened it."""
        if self._database is None:
            raise RuntimeError("the database is opened by the app's lifespan, which has not run")
        return self._database

    @database.setter
    def database(self, database: Database) -> None:
        self._database = database


def attach_state(app: Starlette, state: AppState) -> None:
    """Keep the state on the app (once, in the app factory)."""
    setattr(app.state, _KEY, state)


def app_state(app: Starlette) -> AppState:
    """The state of an app built by create_app."""
    state: AppState = getattr(app.state, _KEY)
    return state
