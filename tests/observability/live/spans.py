"""Reading what the OTLP receivers got: server spans, their descendants, access lines."""

from __future__ import annotations

import json
from typing import Any

from tests.observability.live.otlp_receiver import SPAN_KIND_SERVER, ReceivedSpan


def access_line(logs: str, request_id: str) -> dict[str, Any]:
    """The access log line of one request, parsed."""
    for line in logs.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "service.access" and record.get("request_id") == request_id:
                return dict(record)
    raise AssertionError(f"no access line for {request_id}:\n{logs}")


def server_spans(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    """The server spans of one trace."""
    return [s for s in spans if s.trace_id == trace_id and s.kind == SPAN_KIND_SERVER]


def server_span(spans: list[ReceivedSpan], trace_id: str) -> ReceivedSpan:
    """The one server span of a trace (fails on none, or on two)."""
    found = server_spans(spans, trace_id)
    assert len(found) == 1, found
    return found[0]


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    """Whether `ancestor` is on the span's parent chain."""
    by_id = {s.span_id: s for s in spans}
    current: ReceivedSpan | None = span
    while current is not None and current.parent_span_id:
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id)
    return False
