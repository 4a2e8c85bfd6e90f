"""`tasks-api serve`: gunicorn in this process, with uvicorn workers."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import structlog
from gunicorn.app.base import BaseApplication

from service.config import Settings
from service.db.dialect import is_embedded
from service.server.hooks import hooks
from service.server.options import bind_address, gunicorn_options
from service.telemetry.environment import configuration_problem

log = structlog.get_logger("service.server")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class TasksApiApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn application whose workers each build the app from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options = gunicorn_options(self.settings) | hooks(self.settings)
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from service.app import create_app

        return create_app(self.settings)


def prepare_multiprocess_dir() -> Path:
    """An empty Prometheus multiprocess directory: the configured one, or a fresh temp dir."""
    configured = os.environ.get(MULTIPROC_ENV)
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="tasks-api-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def ensure_multiprocess_metrics() -> None:
    """Fail unless prometheus_client stores metric values in the multiprocess directory.

    prometheus_client chooses its value storage once, when it is first
    imported: imported before PROMETHEUS_MULTIPROC_DIR was set, every forked
    worker would count in its own memory and /metrics would show none of it.
    """
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        raise RuntimeError(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
            "worker metrics would be lost"
        )


def install_fork_aware_values() -> None:
    """Store the workers' metric values with a fork hook instead of a pid check per access.

    Must run before the first metric value is created and before the fork; the
    files, keys and values are prometheus_client's (see
    service.telemetry.multiprocess_values).
    """
    from prometheus_client import values

    from service.telemetry.multiprocess_values import fork_aware_value_class

    if not getattr(values.ValueClass, "fork_aware", False):
        values.ValueClass = fork_aware_value_class()


# Third-party packages every worker imports. Not the service's own modules: those
# create metric values, which must belong to the workers, not to the master.
PRELOADED_MODULES = (
    "alembic.runtime.migration",
    "alembic.script",
    "asyncpg",
    "fastapi",
    "jwt",
    "opentelemetry.sdk.trace",
    "pydantic",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.orm",
    "structlog",
)


def preload_modules() -> None:
    """Import the heavy packages once in the master, so that forked workers share them.

    Only imports: the engine, telemetry providers and the app are still created in each
    worker. Must run after PROMETHEUS_MULTIPROC_DIR is set.
    """
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    # What the master imported lives as long as the workers: keep it out of the
    # collector's scans (and its pages shared) in every forked worker.
    gc.freeze()


def serve(settings: Settings) -> int:
    """Run the server until it is stopped; returns the exit code."""
    # Refused before any worker starts: one line, as for an invalid setting.
    if problem := configuration_problem():
        sys.stderr.write(f"tasks-api: {problem}\n")
        return 2
    # First of all: nothing may import prometheus_client before this is set.
    metrics_dir = prepare_multiprocess_dir()
    ensure_multiprocess_metrics()
    install_fork_aware_values()
    if is_embedded(settings):
        # The one branch on the database that stays here: in embedded mode nobody else
        # will migrate the local SQLite file; on PostgreSQL `tasks-api migrate` does.
        from service.db.migrate import MigrationError, migrate

        try:
            result = asyncio.run(migrate(settings))
        except MigrationError as error:
            log.error("migration_failed", error=str(error))
            return 1
        if result.changed:
            log.info("migrated", before=result.before, after=result.after)
    preload_modules()
    log.info(
        "serving",
        bind=bind_address(settings.host, settings.port),
        workers=settings.web_concurrency,
        metrics_port=settings.metrics_port,
        metrics_dir=str(metrics_dir),
        environment=str(settings.environment),
    )
    TasksApiApplication(settings).run()
    return 0
