"""Statement spans with names and attributes kept per statement: the instrumentation's spans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.telemetry import statement_spans
from service.telemetry.statement_spans import take_over_statement_spans

STATEMENTS: tuple[tuple[str, dict[str, int]], ...] = (
    ("SELECT 1 WHERE 1 = :one", {"one": 1}),
    ("  select now()", {}),
    ("WITH x AS (SELECT 1 AS n) SELECT n FROM x", {}),
)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _engine_tracer(engine: AsyncEngine, exporter: InMemorySpanExporter) -> EngineTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    usage = NoOpMeterProvider().get_meter("test").create_up_down_counter("connections")
    # The instrumentor is process-wide (the session's app uses it): an engine tracer of its own.
    return EngineTracer(
        provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"), engine.sync_engine, usage
    )  # type: ignore[no-untyped-call]


@pytest.fixture
async def engines(database_url: URL) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    as_is, taken_over = create_async_engine(database_url), create_async_engine(database_url)
    yield as_is, taken_over
    await as_is.dispose()
    await taken_over.dispose()


def _shapes(exporter: InMemorySpanExporter) -> list[tuple[Any, ...]]:
    return [
        (span.name, span.kind, dict(span.attributes or {}), span.status.status_code)
        for span in exporter.get_finished_spans()
        if span.name != "connect"
    ]


async def _run_statements(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        for _ in range(2):  # the second time from the kept shape
            for statement, parameters in STATEMENTS:
                await connection.execute(text(statement), parameters)
        with pytest.raises(DBAPIError):
            await connection.execute(text("SELECT * FROM no_such_table"))


@pytest.mark.postgres
async def test_spans_are_those_of_the_instrumentation(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    as_is, taken_over = engines
    expected, actual = InMemorySpanExporter(), InMemorySpanExporter()
    _engine_tracer(as_is, expected)
    assert take_over_statement_spans(_engine_tracer(taken_over, actual), taken_over.sync_engine)
    await _run_statements(as_is)
    await _run_statements(taken_over)
    spans = _shapes(actual)
    assert spans == _shapes(expected)
    assert len(spans) == 2 * len(STATEMENTS) + 1
    assert spans[0][2]["db.statement"] == "SELECT 1 WHERE 1 = $1"
    assert spans[-1][3] is StatusCode.ERROR


@pytest.mark.postgres
async def test_the_listener_replaced_is_gone_and_ours_is_removable(
    engines: tuple[AsyncEngine, AsyncEngine], exporter: InMemorySpanExporter
) -> None:
    _, engine = engines
    engine_tracer = _engine_tracer(engine, exporter)
    assert take_over_statement_spans(engine_tracer, engine.sync_engine)
    sync_engine = engine.sync_engine
    assert not event.contains(sync_engine, "before_cursor_execute", engine_tracer._before_cur_exec)
    # What uninstrumenting does, for this engine only: every listener recorded is removable.
    recorded = [
        (identifier, listener)
        for target, identifier, listener in EngineTracer._remove_event_listener_params
        if target() is sync_engine
    ]
    assert len([1 for identifier, _ in recorded if identifier == "before_cursor_execute"]) == 1
    for identifier, listener in recorded:
        event.remove(sync_engine, identifier, listener)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    assert _shapes(exporter) == []


async def test_an_engine_without_a_host_keeps_the_instrumentations_listener(
    tmp_path: Any, exporter: InMemorySpanExporter
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'spans.db'}")
    try:
        engine_tracer = _engine_tracer(engine, exporter)
        assert take_over_statement_spans(engine_tracer, engine.sync_engine) is None
        assert event.contains(
            engine.sync_engine, "before_cursor_execute", engine_tracer._before_cur_exec
        )
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        assert [span[0] for span in _shapes(exporter)] == [f"SELECT {tmp_path / 'spans.db'}"]
    finally:
        await engine.dispose()


def test_nothing_is_taken_over_without_an_engine_tracer(database_url: URL) -> None:
    # SQLAlchemyInstrumentor.instrument returns None when it is already instrumented.
    engine = create_async_engine(database_url)
    assert take_over_statement_spans(None, engine.sync_engine) is None


@pytest.mark.postgres
async def test_kept_shapes_are_bounded(
    engines: tuple[AsyncEngine, AsyncEngine],
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, engine = engines
    monkeypatch.setattr(statement_spans, "MAX_CACHED_STATEMENTS", 2)
    taken_over = take_over_statement_spans(_engine_tracer(engine, exporter), engine.sync_engine)
    assert taken_over is not None
    async with engine.connect() as connection:
        for number in range(5):
            await connection.execute(text(f"SELECT {number}"))
    spans = _shapes(exporter)
    assert [span[2]["db.statement"] for span in spans] == [f"SELECT {n}" for n in range(5)]
    assert len(taken_over._shapes) <= 2
