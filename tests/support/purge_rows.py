"""Rows for `tasks-api purge` tests: what must go and what must stay, and running the command."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.base import Base
from service.db.types import utcnow
from service.domains.tasks.models import IdempotencyKey
from service.domains.users.models import LoginAttempt, RefreshToken, RegistrationAttempt, User
from tests.support.databases import url_string
from tests.support.server import PROJECT_ROOT, run_command, service_env

SUMMARY = re.compile(
    r"^purged (?P<keys>\d+) idempotency keys, (?P<tokens>\d+) refresh tokens, "
    r"(?P<attempts>\d+) login attempts, (?P<registrations>\d+) registration attempts "
    r"in (?P<seconds>\d+\.\d) s(?P<rest>.*)$"
)
LONG_AGO = timedelta(days=3)


@dataclass(frozen=True)
class Purged:
    """What one run printed: rows deleted per kind, and whether a bound stopped it."""

    keys: int
    tokens: int
    attempts: int
    stopped_by: str | None
    registrations: int = 0


def parse_summary(stdout: str) -> Purged:
    """The counts of the summary line (the last line of stdout)."""
    line = stdout.strip().splitlines()[-1]
    match = SUMMARY.match(line)
    assert match, f"not a purge summary: {line!r}"
    stopped = re.search(r"stopped at (PURGE_\w+)", match["rest"])
    return Purged(
        int(match["keys"]),
        int(match["tokens"]),
        int(match["attempts"]),
        stopped[1] if stopped else None,
        int(match["registrations"]),
    )


def purge_env(url: URL, **settings: str) -> dict[str, str]:
    """The environment of a purge run: the database, and PURGE_* as given."""
    return {"DATABASE_URL": url_string(url), "DB_CONNECT_TIMEOUT_SECONDS": "2", **settings}


def run_purge(url: URL, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `tasks-api purge` to its end."""
    return run_command("purge", env=purge_env(url, **settings), timeout=120)


def start_purge(url: URL, cwd: Path, **settings: str) -> subprocess.Popen[str]:
    """Start `tasks-api purge` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "service", "purge"],
        cwd=cwd if (cwd / "service").is_dir() else PROJECT_ROOT,
        env=service_env(purge_env(url, **settings)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Seeded:
    """Seeded rows: how many of each kind purge must delete, and the ids it must keep."""

    expired_keys: int = 0
    expired_tokens: int = 0
    expired_attempts: int = 0
    expired_registrations: int = 0
    kept: dict[type[Base], set[uuid.UUID]] = field(default_factory=dict)

    def keep(self, model: type[Base], ids: list[uuid.UUID]) -> None:
        """Note rows that must survive every purge."""
        self.kept.setdefault(model, set()).update(ids)


async def _insert(engine: AsyncEngine, model: type[Base], rows: list[dict[str, Any]]) -> None:
    if rows:
        async with engine.begin() as connection:
            await connection.execute(insert(model), rows)


async def add_user(engine: AsyncEngine, email: str | None = None) -> uuid.UUID:
    """A user row to own seeded keys and tokens."""
    user_id = uuid.uuid4()
    address = email or f"owner-{user_id.hex[:12]}@example.com"
    now = utcnow()
    row = {
        "id": user_id,
        "email": address,
        "email_normalized": address,
        "password_hash": "not-a-hash",
        "created_at": now,
        "updated_at": now,
    }
    await _insert(engine, User, [row])
    return user_id


def _key(owner: uuid.UUID, expires_at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "owner_id": owner,
        "key": uuid.uuid4().hex,
        "request_fingerprint": "0" * 64,
        "created_at": expires_at - timedelta(hours=24),
        "expires_at": expires_at,
    }


def _token(
    user: uuid.UUID, family: uuid.UUID, expires_at: datetime, **state: Any
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "user_id": user,
        "family_id": family,
        "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        "created_at": expires_at - timedelta(days=14),
        "expires_at": expires_at,
        "used_at": state.get("used_at"),
        "revoked_at": state.get("revoked_at"),
    }


def _attempt(at: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "email_normalized": "someone@example.com", "attempted_at": at}


def _registration(at: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "client_address": "192.0.2.1", "attempted_at": at}


async def seed_expired(
    engine: AsyncEngine,
    owner: uuid.UUID,
    *,
    keys: int,
    families: int = 0,
    attempts: int = 0,
    registrations: int = 0,
    seeded: Seeded | None = None,
) -> Seeded:
    """Rows past keeping: expired keys, finished families of three tokens, old attempts."""
    seeded = seeded or Seeded()
    past = utcnow() - LONG_AGO
    await _insert(engine, IdempotencyKey, [_key(owner, past) for _ in range(keys)])
    tokens: list[dict[str, Any]] = []
    for n in range(families):
        family = uuid.uuid4()
        if n % 2:  # expired: two used, the last one never used
            tokens += [_token(owner, family, past, used_at=past) for _ in range(2)]
            tokens.append(_token(owner, family, past))
        else:  # revoked (reuse) two days ago, although not expired yet
            revoked = utcnow() - timedelta(days=2)
            future = utcnow() + timedelta(days=7)
            tokens += [_token(owner, family, future, revoked_at=revoked) for _ in range(3)]
    await _insert(engine, RefreshToken, tokens)
    await _insert(engine, LoginAttempt, [_attempt(past) for _ in range(attempts)])
    await _insert(engine, RegistrationAttempt, [_registration(past) for _ in range(registrations)])
    seeded.expired_keys += keys
    seeded.expired_tokens += len(tokens)
    seeded.expired_attempts += attempts
    seeded.expired_registrations += registrations
    return seeded


async def seed_kept(engine: AsyncEngine, owner: uuid.UUID, seeded: Seeded) -> Seeded:
    """Rows purge must keep, each next to the edge of its retention."""
    now = utcnow()
    keys = [_key(owner, now + timedelta(hours=1)), _key(owner, now - timedelta(seconds=10))]
    # A live family whose first token is used and expired: replaying it is reuse.
    live = uuid.uuid4()
    past = now - timedelta(hours=1)
    tokens = [
        _token(owner, live, past, used_at=past),
        _token(owner, live, now + timedelta(days=13)),
    ]
    # A family revoked an hour ago: its access tokens may still be in use.
    revoked = uuid.uuid4()
    tokens += [_token(owner, revoked, now + timedelta(days=5), revoked_at=past)]
    attempts = [_attempt(now - timedelta(minutes=1))]
    # Inside the registration window (an hour), which is longer than the login window.
    registrations = [_registration(now - timedelta(minutes=59))]
    await _insert(engine, IdempotencyKey, keys)
    await _insert(engine, RefreshToken, tokens)
    await _insert(engine, LoginAttempt, attempts)
    await _insert(engine, RegistrationAttempt, registrations)
    seeded.keep(IdempotencyKey, [row["id"] for row in keys])
    seeded.keep(RefreshToken, [row["id"] for row in tokens])
    seeded.keep(LoginAttempt, [row["id"] for row in attempts])
    seeded.keep(RegistrationAttempt, [row["id"] for row in registrations])
    return seeded


async def count(engine: AsyncEngine, model: type[Base]) -> int:
    """Rows of a table."""
    async with engine.connect() as connection:
        statement = select(func.count()).select_from(model)
        return int((await connection.execute(statement)).scalar_one())


async def missing(engine: AsyncEngine, kept: Mapping[type[Base], set[uuid.UUID]]) -> list[str]:
    """Rows that had to survive and are gone, as `table id`."""
    gone: list[str] = []
    async with engine.connect() as connection:
        for model, ids in kept.items():
            table = model.__table__
            present = set((await connection.execute(select(table.c.id))).scalars())
            gone += [f"{model.__tablename__} {row_id}" for row_id in sorted(ids - present, key=str)]
    return gone
