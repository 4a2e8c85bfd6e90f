"""The `tasks-api` command: serve, migrate, purge, probe."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import structlog

from service.config import (
    MigrationSettings,
    Settings,
    load_migration_settings,
    load_purge_settings,
    load_settings,
)
from service.core.logging import configure_logging
from service.version import VERSION

log = structlog.get_logger("service.cli")


def _configure_logging(settings: MigrationSettings) -> None:
    configure_logging(settings.log_level, settings.log_format, settings.is_development)


def _settings_and_logging() -> Settings:
    settings = load_settings()
    _configure_logging(settings)
    return settings


def _serve(_: argparse.Namespace) -> int:
    # The settings first: importing gunicorn reads WEB_CONCURRENCY itself, and an invalid
    # value would end in its traceback instead of our one-line exit 2.
    settings = _settings_and_logging()
    from service.server.serving import serve

    return serve(settings)


def _migrate(args: argparse.Namespace) -> int:
    from service.db.migrate import MigrationError, head_revision, migrate

    # Database and migration settings only: serve-only settings (JWT_SECRET, API
    # timeouts) are neither required nor applied.
    settings = load_migration_settings()
    _configure_logging(settings)
    # Each applied revision gets a log line; the rest of alembic stays quiet.
    migration_log = logging.getLogger("alembic.runtime.migration")
    migration_log.setLevel(logging.INFO)
    migration_log.addFilter(lambda record: record.getMessage().startswith("Running "))
    try:
        result = asyncio.run(migrate(settings, check=args.check))
        head = head_revision()
    except MigrationError as error:
        sys.stderr.write(f"tasks-api migrate: {error}\n")
        return 1
    if args.check:
        if result.after != head:
            print(f"database is behind: at {result.after or 'empty'}, code at {head}")
            return 1
        print(f"database is at head {head}")
        return 0
    if result.changed:
        print(f"migrated from {result.before or 'empty'} to {result.after}")
    else:
        print(f"already at head {result.after}; nothing to do")
    return 0


def _purge(_: argparse.Namespace) -> int:
    from service.maintenance.purge import PurgeError, purge

    # Database and PURGE_* settings only, like migrate: no JWT secret in the CronJob.
    settings = load_purge_settings()
    _configure_logging(settings)
    try:
        result = asyncio.run(purge(settings))
    except PurgeError as error:
        sys.stderr.write(f"tasks-api purge: {error}\n")
        return 1
    print(result.summary())
    return 0


def _probe(args: argparse.Namespace) -> int:
    from service.server.probe import probe

    return probe(args.url, args.timeout)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `tasks-api`."""
    parser = argparse.ArgumentParser(prog="tasks-api", description="The tasks-api service.")
    parser.add_argument("--version", action="version", version=f"tasks-api {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve HTTP with gunicorn and uvicorn workers")
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema to head")
    migrate.add_argument(
        "--check", action="store_true", help="exit 1 when the database is behind, change nothing"
    )
    migrate.set_defaults(handler=_migrate)
    purge = commands.add_parser(
        "purge", help="delete expired idempotency keys, refresh tokens and login attempts"
    )
    purge.set_defaults(handler=_purge)
    probe = commands.add_parser("probe", help="exit 0 when URL answers 2xx (for shell-less images)")
    probe.add_argument("url")
    probe.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    probe.set_defaults(handler=_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
