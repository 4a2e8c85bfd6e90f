"""The schema both contract runs test, and every failure a run reports, as readable lines."""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis
from fastapi import FastAPI
from schemathesis.engine import Status, events

from service.domains.tasks.routes import IDEMPOTENCY_KEY_PATTERN


def unique_idempotency_keys(_: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """A map_headers hook: every valid Idempotency-Key becomes one never sent before.

    A replayed POST answers with the first response (as the Idempotency-Key draft
    says), whose task may have been deleted since; following the OpenAPI links,
    schemathesis would then report the created resource as missing. Replays are
    tested in tests/integration/api/test_idempotency.py; invalid keys stay as
    generated (negative cases).
    """
    key = (headers or {}).get("Idempotency-Key")
    if headers is not None and isinstance(key, str) and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        return {**headers, "Idempotency-Key": uuid.uuid4().hex}
    return headers


def contract_schema(app: FastAPI, config: Any) -> Any:
    """The app's /openapi.json, loaded through ASGI, with unique idempotency keys."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.hook("map_headers")(unique_idempotency_keys)
    return schema


def scenario_failures(event: events.ScenarioFinished) -> list[str]:
    """One line per failed check of a finished scenario, with how to reproduce it."""
    lines = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            lines.append(
                f"{event.label} [{check.name}] {failure.title}: {failure.message}\n"
                f"  reproduce: {check.failure_info.code_sample} (case {case_id})"
            )
    return lines


def failure_lines(event: events.EngineEvent) -> list[str]:
    """What an engine event says went wrong: failed scenarios, errors, run-level failures."""
    if isinstance(event, events.ScenarioFinished):
        if event.status in (Status.FAILURE, Status.ERROR):
            return scenario_failures(event) or [f"{event.label}: {event.status}"]
        return []
    if isinstance(event, events.NonFatalError):
        return [f"{event.label}: error {event.info.title}: {event.value!r}"]
    if isinstance(event, events.FatalError):
        return [f"fatal: {event.exception!r}"]
    if isinstance(event, events.EngineFinished):
        return [f"after run: {failure.message}" for failure in event.failures]
    return []


def answered_statuses(event: events.EngineEvent) -> set[tuple[str, str, int]]:
    """(method, path template, status) of every answer a finished scenario received.

    Requests in another method than their operation's (schemathesis probes undeclared
    methods, which must answer 405) belong to no operation and are left out.
    """
    if not isinstance(event, events.ScenarioFinished):
        return set()
    answered = set()
    for case_id, interaction in event.recorder.interactions.items():
        node = event.recorder.cases.get(case_id)
        if node is None or interaction.response is None:
            continue
        operation = node.value.operation
        if interaction.request.method.upper() != operation.method.upper():
            continue
        answered.add((operation.method.lower(), operation.path, interaction.response.status_code))
    return answered


def checks_run(event: events.EngineEvent) -> set[str]:
    """The names of the checks a finished scenario ran."""
    if not isinstance(event, events.ScenarioFinished):
        return set()
    return {check.name for checks in event.recorder.checks.values() for check in checks}
