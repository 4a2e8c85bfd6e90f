"""The span of each SQL statement, its name and attributes computed once per statement.

The SQLAlchemy instrumentation derives a statement span's name and attributes
anew for every execution: the engine URL's attributes through the semantic
convention helpers, a regular expression over the statement for the operation,
then one `set_attribute` call (and lock) per attribute. For a given engine and
statement they are always the same, so here they are derived once (by the
instrumentation's own helpers), kept, and passed to `start_span` together. The
spans are the instrumentation's: same tracer, name, kind, attributes, status
and end (its after-execute and error listeners stay as they are).

Only the common case is taken over: an engine whose URL names a host, with
sqlcommenter off. Otherwise (SQLite, a Unix socket, the commenter) the
instrumentation's own listener runs, as before.
"""

from __future__ import annotations

import weakref
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import (
    EngineTracer,
    _get_attributes_from_url,
    _get_db_name_from_cursor_or_conn,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from sqlalchemy import Engine, event

_EVENT = "before_cursor_execute"
# Distinct statements are few (they come from the code); a bound keeps a
# generator of ever new statement texts from growing the cache without limit.
MAX_CACHED_STATEMENTS = 512

SpanShape = tuple[str, dict[str, Any]]


class StatementSpans:
    """Starts the span of a statement from the shape kept for that statement."""

    def __init__(self, engine_tracer: EngineTracer, engine: Engine) -> None:
        self._tracer = engine_tracer
        self._vendor: str = engine_tracer.vendor
        # Fixed by the URL, as the instrumentation computes them on each statement.
        self._url_attributes, _ = _get_attributes_from_url(  # type: ignore[no-untyped-call]
            engine.url,
            engine_tracer._sem_conv_opt_in_mode_db,
            engine_tracer._sem_conv_opt_in_mode_http,
        )
        self._shapes: dict[tuple[str, str | None], SpanShape] = {}

    def _shape(self, statement: str, db_name: str | None) -> SpanShape:
        # The instrumentation's own helpers, so the result is what it would set.
        name: str = self._tracer._operation_name(db_name, statement)  # type: ignore[no-untyped-call]
        recorder = _AttributeRecorder()
        self._tracer._set_db_client_span_attributes(
            recorder, statement, db_name, self._url_attributes
        )
        if len(self._shapes) >= MAX_CACHED_STATEMENTS:
            self._shapes.clear()
        shape = self._shapes[statement, db_name] = (name, recorder.attributes)
        return shape

    def before_cursor_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        """Start the statement's span; the instrumentation's listeners end it."""
        if not is_instrumentation_enabled():
            return statement, parameters
        db_name = _get_db_name_from_cursor_or_conn(self._vendor, conn, cursor)  # type: ignore[no-untyped-call]
        shape = self._shapes.get((statement, db_name)) or self._shape(statement, db_name)
        name, attributes = shape
        span = self._tracer.tracer.start_span(
            name, kind=trace.SpanKind.CLIENT, attributes=attributes
        )
        context._otel_span = span
        return statement, parameters


class _AttributeRecorder:
    """Stands for a span: collects what the instrumentation would set on it, in order."""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value


def take_over_statement_spans(
    engine_tracer: EngineTracer | None, engine: Engine
) -> StatementSpans | None:
    """Replace the instrumentation's before-execute listener by StatementSpans where it applies.

    Returns the StatementSpans, or None where the instrumentation's listener stays.

    The instrumentation keeps a list of its listeners to remove them when it is
    uninstrumented: the replacement takes the original's place in it.
    """
    if not isinstance(engine_tracer, EngineTracer):
        return None  # already instrumented elsewhere: not this module's listener to replace
    if engine_tracer.enable_commenter or not engine.url.host:
        return None
    spans = StatementSpans(engine_tracer, engine)
    original = (weakref.ref(engine), _EVENT, engine_tracer._before_cur_exec)
    EngineTracer._dispose_of_event_listener(original)  # type: ignore[no-untyped-call]
    event.remove(engine, _EVENT, engine_tracer._before_cur_exec)
    EngineTracer._register_event_listener(engine, _EVENT, spans.before_cursor_execute, retval=True)  # type: ignore[no-untyped-call]
    return spans
