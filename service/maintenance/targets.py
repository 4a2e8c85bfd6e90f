"""What `tasks-api purge` deletes, and how long each kind of row is kept.

Every cutoff is taken once per run, at its start, and moved back by PURGE_GRACE_SECONDS
(so that a purge pod whose clock runs ahead of the API's deletes nothing still in use):

- idempotency_key: once past its lifetime (24 hours). A key inside its lifetime is
  replayed to its owner; an expired one is already free for a new request.
- refresh_token: a whole family together, once none of its tokens can serve any more:
  each one has expired, or was revoked at least a day before. Until then every token of
  the family stays, used ones included, because presenting a used token is how reuse is
  detected (it revokes the family). A day after a revocation every access token issued
  from the family has expired too (ACCESS_TOKEN_TTL_SECONDS is at most a day).
- login_attempt: once outside the login window, where it no longer counts toward a limit.
- registration_attempt: once outside the registration window (an hour), likewise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, delete, exists, or_, select
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Delete
from sqlalchemy.sql.selectable import NamedFromClause

from service.domains.tasks import models as task_models
from service.domains.users import limits as login_limits
from service.domains.users import models as user_models

# The longest access token lifetime Settings allows (ACCESS_TOKEN_TTL_SECONDS).
REVOKED_FAMILY_RETENTION = timedelta(days=1)
_REFRESH_TOKEN: Table = user_models.RefreshToken.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Target:
    """One table purge deletes from: which of its rows are past keeping, as of a cutoff."""

    label: str
    table: Table
    # Given the table's alias and the run's start minus the grace, the rows to delete.
    expired: Callable[[NamedFromClause, datetime], ColumnElement[bool]]

    def batch(self, *, start: datetime, size: int) -> Delete:
        """DELETE at most `size` expired rows that no other transaction holds a lock on.

        On PostgreSQL the rows are chosen FOR UPDATE SKIP LOCKED: concurrent runs (and a
        request taking over an expired key) never wait for each other, and each row is
        deleted, and counted, by one transaction only. SQLite serialises writers anyway.
        """
        candidate = self.table.alias("candidate")
        chosen = (
            select(candidate.c.id)
            .where(self.expired(candidate, start))
            .limit(size)
            .with_for_update(skip_locked=True, of=candidate)
        )
        return delete(self.table).where(self.table.c.id.in_(chosen.scalar_subquery()))


def _idempotency_key_expired(key: NamedFromClause, cutoff: datetime) -> ColumnElement[bool]:
    return key.c.expires_at <= cutoff


def _refresh_family_finished(token: NamedFromClause, cutoff: datetime) -> ColumnElement[bool]:
    revoked_before = cutoff - REVOKED_FAMILY_RETENTION
    sibling = _REFRESH_TOKEN.alias("sibling")
    still_serves = exists().where(
        sibling.c.family_id == token.c.family_id,
        sibling.c.expires_at > cutoff,
        or_(sibling.c.revoked_at.is_(None), sibling.c.revoked_at > revoked_before),
    )
    finished = or_(token.c.expires_at <= cutoff, token.c.revoked_at <= revoked_before)
    return and_(finished, ~still_serves)


def _login_attempt_expired(attempt: NamedFromClause, cutoff: datetime) -> ColumnElement[bool]:
    return attempt.c.attempted_at <= cutoff - login_limits.LOGIN_WINDOW


def _registration_attempt_expired(
    attempt: NamedFromClause, cutoff: datetime
) -> ColumnElement[bool]:
    return attempt.c.attempted_at <= cutoff - login_limits.REGISTRATION_WINDOW


TARGETS = (
    Target(
        "idempotency keys",
        task_models.IdempotencyKey.__table__,  # type: ignore[arg-type]
        _idempotency_key_expired,
    ),
    Target(
        "refresh tokens",
        _REFRESH_TOKEN,
        _refresh_family_finished,
    ),
    Target(
        "login attempts",
        user_models.LoginAttempt.__table__,  # type: ignore[arg-type]
        _login_attempt_expired,
    ),
    Target(
        "registration attempts",
        user_models.RegistrationAttempt.__table__,  # type: ignore[arg-type]
        _registration_attempt_expired,
    ),
)
