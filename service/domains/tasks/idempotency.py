"""Idempotent task creation: one key per user, the first response replayed for 24 hours.

The key row is claimed with INSERT ... ON CONFLICT in the request's transaction, and
the response is stored in that same transaction, together with the task. So:
- a request that fails rolls back its claim with the task: no key is left stuck, and
  a committed row always holds its response;
- on PostgreSQL a concurrent duplicate waits at the claim until the first request's
  transaction ends, then replays its committed response (or takes the key if it failed);
  if the wait outlasts the statement timeout it answers 409 idempotency_key_in_progress;
- an expired row is taken over, so nothing holds a key longer than its lifetime.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.tasks.errors import IdempotencyKeyInProgressError, IdempotencyKeyReusedError
from service.domains.tasks.repository import Claim, IdempotencyRepository
from service.domains.tasks.schemas import TaskOut
from service.telemetry import events

KEY_TTL = timedelta(hours=24)
CREATED = 201


@dataclass(frozen=True)
class Outcome:
    """The task a keyed POST answers with, and whether it is a replay."""

    task: TaskOut
    replayed: bool


def fingerprint(operation: str, payload: BaseModel) -> str:
    """SHA-256 of the operation and the validated body (defaults included, keys sorted)."""
    body = payload.model_dump(mode="json")
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_once(
    *,
    session: WriteSession,
    owner_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    create: Callable[[], Awaitable[TaskOut]],
) -> Outcome:
    """Run `create` once per (owner, key); replay its stored response for the same body."""
    keys = IdempotencyRepository(session)
    now = utcnow()
    claim = await keys.claim(owner_id, key, request_fingerprint, now=now, ttl=KEY_TTL)
    if claim is Claim.BUSY:
        raise IdempotencyKeyInProgressError
    if claim is Claim.CLAIMED:
        task = await create()
        await keys.store_response(owner_id, key, status=CREATED, body=task.model_dump(mode="json"))
        return Outcome(task=task, replayed=False)
    stored = await keys.get(owner_id, key)
    if stored is None:
        raise IdempotencyKeyInProgressError  # purged between the two statements; retry
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with a different request body."
        )
    if stored.response_body is None:
        # The response is stored in the claim's own transaction: a committed row has one.
        raise RuntimeError("a committed idempotency key without its response")
    events.idempotent_replay()
    return Outcome(task=TaskOut.model_validate(stored.response_body), replayed=True)
