"""The two baselines really are what the benchmark says: real gunicorn processes, real OTLP.

An instrumented baseline that silently lost a library would be faster than the
libraries' defaults and make the service/instrumented ratio meaningless; a bare
baseline that carried any of them would hide what they cost.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.load.conftest import BenchDatabase
from tests.load.seed import insert_tasks
from tests.load.targets import Target, bare_target, instrumented_target
from tests.observability.live.otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    OtlpReceiver,
    otlp_receiver,
)

pytestmark = pytest.mark.postgres
EXPORT_WAIT_SECONDS = 30.0  # the BatchSpanProcessor exports every 5 s by default


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    """Where the instrumented baseline exports."""
    with otlp_receiver() as found:
        yield found


def started(target: Target) -> Iterator[Target]:
    """Run a target for the module's tests."""
    target.start()
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture(scope="module")
def instrumented(
    bench_database: BenchDatabase, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One worker of the instrumented baseline."""
    yield from started(
        instrumented_target(
            workers=1,
            dsn=bench_database.dsn,
            owner_id=bench_database.owner_id,
            otlp_endpoint=receiver.endpoint,
            log_dir=tmp_path_factory.mktemp("instrumented"),
        )
    )


@pytest.fixture(scope="module")
def bare(
    bench_database: BenchDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One worker of the bare baseline."""
    yield from started(
        bare_target(
            workers=1,
            dsn=bench_database.dsn,
            owner_id=bench_database.owner_id,
            log_dir=tmp_path_factory.mktemp("bare"),
        )
    )


def access_lines(log_path: Path) -> list[dict[str, object]]:
    """The JSON access lines a target wrote."""
    lines = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "request":
                lines.append(record)
    return lines


async def test_the_instrumented_baseline_traces_meters_and_logs_every_request(
    instrumented: Target, receiver: OtlpReceiver, bench_database: BenchDatabase
) -> None:
    (task_id,) = await insert_tasks(bench_database.url, bench_database.owner_id, 1)
    async with httpx.AsyncClient(base_url=instrumented.base_url, timeout=10) as client:
        assert (await client.get(f"/api/v1/tasks/{task_id}")).status_code == 200
        created = await client.post("/api/v1/tasks", json={"title": "instrumented"})
        assert created.status_code == 201
        metrics = (await client.get("/metrics")).text
    # prometheus-fastapi-instrumentator, read through the multiprocess collector.
    assert 'handler="/api/v1/tasks/{task_id}"' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert list((instrumented.log_path.parent / "instrumented-prometheus").glob("*.db"))
    deadline = time.monotonic() + EXPORT_WAIT_SECONDS
    while time.monotonic() < deadline:
        servers = [s for s in receiver.spans if s.kind == SPAN_KIND_SERVER]
        if any(s.name == "GET /api/v1/tasks/{task_id}" for s in servers):
            break
        await asyncio.sleep(0.2)
    server = next(s for s in receiver.spans if s.name == "GET /api/v1/tasks/{task_id}")
    in_trace = [s for s in receiver.spans if s.trace_id == server.trace_id]
    # asyncpg's span per statement, and FastAPI's per-operation spans (its default).
    database = [s for s in in_trace if s.kind == SPAN_KIND_CLIENT]
    assert database
    assert {s.attributes["db.system"] for s in database} == {"postgresql"}
    statements = [str(s.attributes["db.statement"]) for s in database]
    assert any("FROM task WHERE task.id = $1" in statement for statement in statements)
    assert {"fastapi.dependencies", "fastapi.endpoint"} <= {s.name for s in in_trace}
    assert server.resource["service.name"] == "instrumented-baseline"
    lines = access_lines(instrumented.log_path)
    line = next(r for r in lines if r["path"] == f"/api/v1/tasks/{task_id}")
    assert (line["status"], line["trace_id"]) == (200, server.trace_id)
    assert any(r["method"] == "POST" and r["status"] == 201 for r in lines)


async def test_an_unknown_task_is_traced_and_logged_too(
    instrumented: Target, receiver: OtlpReceiver
) -> None:
    missing = uuid.uuid4()
    async with httpx.AsyncClient(base_url=instrumented.base_url, timeout=10) as client:
        assert (await client.get(f"/api/v1/tasks/{missing}")).status_code == 404
        assert (await client.get("/api/v1/tasks/not-a-uuid")).status_code == 422
    lines = access_lines(instrumented.log_path)
    statuses = {r["path"]: r["status"] for r in lines}
    assert statuses[f"/api/v1/tasks/{missing}"] == 404
    assert statuses["/api/v1/tasks/not-a-uuid"] == 422


def test_the_bare_baseline_carries_none_of_it(bare: Target, bench_database: BenchDatabase) -> None:
    with httpx.Client(base_url=bare.base_url, timeout=10) as client:
        assert client.get("/api/v1/tasks?limit=1").status_code == 200
        assert client.get("/metrics").status_code == 404
    assert access_lines(bare.log_path) == []
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in bare.env
    assert "PROMETHEUS_MULTIPROC_DIR" not in bare.env
