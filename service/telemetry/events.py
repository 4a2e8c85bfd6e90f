"""Business events the domains report; telemetry turns them into metrics and log lines.

Domains call these functions and nothing else from telemetry, so the metric
backend can change without touching business code. Security events are also
written as one structured line each (`event` is `security.<name>`), with the
user id and the client address when known; never a password, a token or the
e-mail typed at login (people type their password into that field too).
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from service.telemetry import metrics

security_log = structlog.get_logger("service.security")


def task_created() -> None:
    """A task was created (not a replay)."""
    metrics.TASKS_CREATED.inc()


def idempotent_replay() -> None:
    """A POST was answered from a stored idempotent response."""
    metrics.IDEMPOTENT_REPLAYS.inc()


def _security_event(name: str, *, warning: bool, **fields: Any) -> None:
    metrics.SECURITY_EVENTS_TOTAL.labels(event=name).inc()
    values = {key: str(v) if isinstance(v, uuid.UUID) else v for key, v in fields.items()}
    if warning:
        security_log.warning(f"security.{name}", **values)
    else:
        security_log.info(f"security.{name}", **values)


def login_failed(*, reason: str, client: str | None, user_id: uuid.UUID | None = None) -> None:
    """A login attempt failed: `unknown_user`, `wrong_password`, `invalid_username` or `locked`."""
    metrics.LOGINS_FAILED.inc()
    _security_event("login_failed", warning=False, reason=reason, user_id=user_id, client=client)


def lockout(*, client: str | None, retry_after_seconds: int, user_id: uuid.UUID | None) -> None:
    """A failed login reached the limit: logins for that e-mail are refused for a while."""
    _security_event(
        "lockout",
        warning=True,
        user_id=user_id,
        client=client,
        retry_after_seconds=retry_after_seconds,
    )


def refresh_reuse(*, user_id: uuid.UUID, family_id: uuid.UUID, client: str | None) -> None:
    """A refresh token was presented again after it was used or revoked."""
    _security_event(
        "refresh_reuse", warning=True, user_id=user_id, family_id=family_id, client=client
    )


def tokens_revoked(
    *, user_id: uuid.UUID, family_id: uuid.UUID, revoked: int, client: str | None
) -> None:
    """A login's refresh tokens and every access token of its user were revoked."""
    _security_event(
        "tokens_revoked",
        warning=True,
        user_id=user_id,
        family_id=family_id,
        revoked=revoked,
        client=client,
    )


def revoked_token_used(*, user_id: uuid.UUID, client: str | None) -> None:
    """An access token issued before its user's tokens were revoked was presented."""
    _security_event("revoked_token_used", warning=True, user_id=user_id, client=client)


def registration_limited(*, client: str | None, retry_after_seconds: int) -> None:
    """A registration was refused: its client address reached the registration limit."""
    _security_event(
        "registration_limited",
        warning=True,
        client=client,
        retry_after_seconds=retry_after_seconds,
    )
