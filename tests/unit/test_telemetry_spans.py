"""Server and database spans of the app in process, captured in memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from structlog.testing import capture_logs

from service.config import Settings
from service.db.dialect import is_embedded
from service.dependencies import ReadSessionDep
from service.telemetry import otel
from tests.support.apps import asgi_client, new_app, started


@pytest.fixture(scope="module")
async def traced_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with routes that query, fail, and fail in a handled way."""
    app = new_app(settings)

    @app.get("/test/query")
    async def query(session: ReadSessionDep) -> dict[str, int]:
        return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    @app.get("/test/two-queries")
    async def two_queries(session: ReadSessionDep) -> dict[str, int]:
        one = (await session.execute(text("SELECT 1"))).scalar_one()
        two = (await session.execute(text("SELECT 2"))).scalar_one()
        return {"sum": one + two}

    @app.get("/test/bad-sql")
    async def bad_sql(session: ReadSessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table WHERE secret = 'hunter2'"))

    @app.get("/test/pool-timeout")
    async def pool_timeout() -> None:
        # Raised by hand as the pool raises it when no connection frees up in time.
        raise PoolTimeoutError("QueuePool limit reached")

    async with started(app):
        yield app


@pytest.fixture(scope="module")
def memory(traced_app: FastAPI) -> Iterator[InMemorySpanExporter]:
    """Every span this process finishes, while the module runs."""
    providers = otel.current()
    if providers is None:
        pytest.skip("OpenTelemetry is disabled in this environment (OTEL_SDK_DISABLED)")
    exporter = InMemorySpanExporter()
    providers.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
async def http(
    traced_app: FastAPI, memory: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    memory.clear()
    async with asgi_client(traced_app) as client:
        yield client


def server_span(memory: InMemorySpanExporter) -> ReadableSpan:
    servers = [s for s in memory.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(servers) == 1, [s.name for s in memory.get_finished_spans()]
    return servers[0]


def exception_events(span: ReadableSpan) -> list[dict[str, object]]:
    return [dict(event.attributes or {}) for event in span.events if event.name == "exception"]


async def test_server_span_is_the_parent_of_database_spans(
    http: httpx.AsyncClient, memory: InMemorySpanExporter, settings: Settings
) -> None:
    assert (await http.get("/test/query")).json() == {"one": 1}
    server = server_span(memory)
    assert server.name == "GET /test/query"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/test/query"
    assert server.attributes["http.response.status_code"] == 200
    queries = [s for s in memory.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert queries
    backend = "sqlite" if is_embedded(settings) else "postgresql"
    for span in queries:
        assert span.attributes is not None and span.attributes["db.system"] == backend
        assert span.parent is not None and span.parent.span_id == server.context.span_id
        assert span.context.trace_id == server.context.trace_id


@pytest.mark.parametrize(("path", "statements"), [("/test/query", 1), ("/test/two-queries", 2)])
async def test_a_request_has_one_client_span_per_statement_and_no_other(
    http: httpx.AsyncClient, memory: InMemorySpanExporter, path: str, statements: int
) -> None:
    # No `connect` span for the pooled connection's checkout, nor any other per-operation
    # span: the server span and the statements, nothing else.
    assert (await http.get(path)).status_code == 200
    spans = memory.get_finished_spans()
    server = server_span(memory)
    others = [s for s in spans if s is not server]
    # Named by the operation (and, on SQLite, the database file).
    assert [s.name.split()[0] for s in others] == ["SELECT"] * statements, [s.name for s in spans]
    assert all(s.kind is SpanKind.CLIENT for s in others)
    assert all(s.attributes and "db.statement" in s.attributes for s in others)


async def test_unhandled_exception_is_recorded_without_sql(
    http: httpx.AsyncClient, memory: InMemorySpanExporter
) -> None:
    # Captured, not rendered: the unconfigured default renderer prints every frame's locals.
    with capture_logs() as logs:
        assert (await http.get("/test/bad-sql")).status_code == 500
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "unhandled_exception"
    ]
    server = server_span(memory)
    assert server.status.status_code is StatusCode.ERROR
    events = exception_events(server)
    assert len(events) == 1
    recorded = json.dumps(events)
    assert "hunter2" not in recorded
    assert "SELECT *" not in recorded
    assert str(events[0]["exception.type"]).startswith("sqlalchemy.exc.")


async def test_handled_server_error_is_recorded(
    http: httpx.AsyncClient, memory: InMemorySpanExporter
) -> None:
    response = await http.get("/test/pool-timeout")
    assert response.status_code == 503
    server = server_span(memory)
    assert server.status.status_code is StatusCode.ERROR
    recorded = [event["exception.type"] for event in exception_events(server)]
    assert recorded == ["sqlalchemy.exc.TimeoutError"]


async def test_client_errors_leave_the_span_unset(
    http: httpx.AsyncClient, memory: InMemorySpanExporter
) -> None:
    assert (await http.get("/api/v1/tasks")).status_code == 401
    server = server_span(memory)
    assert server.status.status_code is StatusCode.UNSET
    assert exception_events(server) == []


async def test_probes_create_no_spans_not_even_database_spans(
    http: httpx.AsyncClient, memory: InMemorySpanExporter
) -> None:
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200
    assert (await http.get("/metrics")).status_code == 404
    assert memory.get_finished_spans() == ()


async def test_a_callers_trace_is_continued(
    http: httpx.AsyncClient, memory: InMemorySpanExporter
) -> None:
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    headers = {"traceparent": f"00-{trace_id}-{parent_id}-01"}
    assert (await http.get("/test/query", headers=headers)).status_code == 200
    server = server_span(memory)
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.parent is not None and format(server.parent.span_id, "016x") == parent_id
