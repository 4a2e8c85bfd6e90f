"""Reading a schemathesis engine run: every failure it reports, as readable lines."""

from __future__ import annotations

from schemathesis.engine import Status, events


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
