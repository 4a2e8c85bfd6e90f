"""`tasks-api purge`: what it deletes and keeps, its bounds, SQLite, and how it fails."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.domains import load_models
from service.domains.tasks.models import IdempotencyKey
from service.domains.users.models import LoginAttempt, RefreshToken, RegistrationAttempt
from tests.support.databases import sqlite_url, url_string
from tests.support.purge_rows import (
    Purged,
    add_user,
    count,
    missing,
    parse_summary,
    run_purge,
    seed_expired,
    seed_kept,
    start_purge,
)
from tests.support.server import run_command


async def test_purge_deletes_what_is_past_keeping_and_keeps_the_rest(
    migrated_engine: tuple[URL, AsyncEngine],
) -> None:
    url, engine = migrated_engine
    owner = await add_user(engine)
    seeded = await seed_expired(engine, owner, keys=5, families=4, attempts=3, registrations=4)
    await seed_kept(engine, owner, seeded)

    first = run_purge(url)
    again = run_purge(url)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert len(first.stdout.strip().splitlines()) == 1, first.stdout
    purged = parse_summary(first.stdout)
    assert (purged.keys, purged.tokens, purged.attempts, purged.registrations) == (5, 12, 3, 4)
    assert purged.stopped_by is None
    assert await missing(engine, seeded.kept) == []
    assert await count(engine, IdempotencyKey) == 2
    assert await count(engine, RefreshToken) == 3
    assert await count(engine, LoginAttempt) == 1
    assert await count(engine, RegistrationAttempt) == 1
    assert again.returncode == 0, again.stderr
    assert parse_summary(again.stdout) == Purged(
        keys=0, tokens=0, attempts=0, stopped_by=None, registrations=0
    )


async def test_a_run_stops_at_its_batch_bound_and_the_next_run_goes_on(
    migrated_engine: tuple[URL, AsyncEngine],
) -> None:
    url, engine = migrated_engine
    owner = await add_user(engine)
    await seed_expired(engine, owner, keys=10)

    # Tables take turns: keys (3), tokens, login and registration attempts (0 each, done),
    # keys (3), bound.
    bounded = run_purge(url, PURGE_BATCH_SIZE="3", PURGE_MAX_BATCHES="5")
    rest = run_purge(url, PURGE_BATCH_SIZE="3")

    assert bounded.returncode == 0, bounded.stderr
    first = parse_summary(bounded.stdout)
    assert (first.keys, first.stopped_by) == (6, "PURGE_MAX_BATCHES")
    assert "the rest is left for the next run" in bounded.stdout
    second = parse_summary(rest.stdout)
    assert (second.keys, second.stopped_by) == (4, None)
    assert await count(engine, IdempotencyKey) == 0


async def test_a_run_stops_at_its_time_bound(migrated_engine: tuple[URL, AsyncEngine]) -> None:
    url, engine = migrated_engine
    owner = await add_user(engine)
    await seed_expired(engine, owner, keys=3)

    result = run_purge(url, PURGE_MAX_SECONDS="0.000001")

    assert result.returncode == 0, result.stderr
    purged = parse_summary(result.stdout)
    assert (purged.keys, purged.stopped_by) == (0, "PURGE_MAX_SECONDS")
    assert await count(engine, IdempotencyKey) == 3


async def test_needs_no_jwt_secret_in_production(migrated_engine: tuple[URL, AsyncEngine]) -> None:
    url, _ = migrated_engine
    result = run_purge(url, ENVIRONMENT="production")
    assert result.returncode == 0, result.stderr
    assert parse_summary(result.stdout).stopped_by is None


async def test_two_runs_at_once_on_sqlite_share_the_rows(tmp_path: Path) -> None:
    load_models()
    url = sqlite_url(tmp_path)
    migrated = run_command("migrate", env={"DATABASE_URL": url_string(url)})
    assert migrated.returncode == 0, migrated.stderr
    engine = create_async_engine(url_string(url))
    try:
        owner = await add_user(engine)
        seeded = await seed_expired(
            engine, owner, keys=3000, families=40, attempts=500, registrations=300
        )
        await seed_kept(engine, owner, seeded)

        runs = [start_purge(url, tmp_path, PURGE_BATCH_SIZE="50") for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]

        assert [run.returncode for run in runs] == [0, 0], outputs
        purged = [parse_summary(out) for out, _ in outputs]
        assert sum(p.keys for p in purged) == seeded.expired_keys
        assert sum(p.tokens for p in purged) == seeded.expired_tokens
        assert sum(p.attempts for p in purged) == seeded.expired_attempts
        assert sum(p.registrations for p in purged) == seeded.expired_registrations
        assert await missing(engine, seeded.kept) == []
    finally:
        await engine.dispose()


def test_an_unreachable_database_fails_fast_with_one_line() -> None:
    started = time.monotonic()
    result = run_purge(make_url("postgresql+asyncpg://purger:hunter2@127.0.0.1:1/none"))
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tasks-api purge: cannot connect to the database at "), lines
    assert "hunter2" not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [("PURGE_BATCH_SIZE", "0"), ("PURGE_MAX_BATCHES", "many"), ("PURGE_MAX_SECONDS", "0")],
)
def test_an_invalid_setting_exits_2_with_one_line(name: str, value: str, tmp_path: Path) -> None:
    result = run_purge(sqlite_url(tmp_path), **{name: value})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"tasks-api: invalid setting {name}: "), result.stderr
    assert "Traceback" not in result.stderr


async def test_a_database_without_the_schema_says_to_migrate(fresh_database: URL) -> None:
    result = run_purge(fresh_database)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tasks-api purge: the database at {fresh_database.render_as_string(hide_password=True)} "
        "has no tasks-api tables: run tasks-api migrate"
    ]


@pytest.mark.postgres
async def test_the_time_bound_also_cancels_a_batch_that_outlasts_it(
    migrated_engine: tuple[URL, AsyncEngine],
) -> None:
    url, engine = migrated_engine
    owner = await add_user(engine)
    await seed_expired(engine, owner, keys=60_000)

    # One batch of every row: it cannot finish within 50 ms, so the bound cancels it.
    result = run_purge(url, PURGE_BATCH_SIZE="100000", PURGE_MAX_SECONDS="0.05")

    assert result.returncode == 0, result.stderr
    purged = parse_summary(result.stdout)
    assert (purged.keys, purged.stopped_by) == (0, "PURGE_MAX_SECONDS")
    # The cancelled batch rolled back whole.
    assert await count(engine, IdempotencyKey) == 60_000
