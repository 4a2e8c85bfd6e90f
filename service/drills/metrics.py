"""The drill counter: every answer a drill changed, by kind of drill.

Exposed by every worker, drills enabled or not, at 0 until a drill hits: so
"5xx answers minus injected ones" is a plain subtraction on any release.
"""

from __future__ import annotations

from prometheus_client import Counter

from service.drills.model import DrillKind

DRILL_INJECTED = Counter(
    "tasks_api_drill_injected_total",
    "Answers a drill changed: API requests delayed (latency) or answered with a 5xx "
    "(error), readiness checks failed (readiness). They also count in the HTTP metrics.",
    ("kind",),
)
# Zero-valued from the start, so that the first injection shows in rate().
for _kind in DrillKind:
    DRILL_INJECTED.labels(kind=_kind.value)


def count_injected(kind: DrillKind) -> None:
    """Count one answer a drill changed."""
    DRILL_INJECTED.labels(kind=kind.value).inc()
