"""`opentelemetry-instrument tasks-api serve`: auto-instrumentation and tasks-api's own, together.

The OpenTelemetry Operator's Python injection runs the same auto-configuration
as `opentelemetry-instrument` (the SDK with the distro, every instrumentation
package installed: here FastAPI, SQLAlchemy and asyncpg). The real command
wraps a real 2-worker serve; what arrives at an OTLP receiver must be one
server span per request, the database spans once, and HTTP metrics from one
instrumentation only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.observability.live.otlp_grpc_receiver import otlp_grpc_receiver
from tests.observability.live.otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    OtlpReceiver,
    otlp_receiver,
)
from tests.observability.live.spans import access_line, descends_from, server_span
from tests.observability.live.traffic import Traffic, sign_in
from tests.support.server import ServiceProcess, free_port, service_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent
CALLER_SPAN = "00f067aa0ba902b7"


@contextlib.contextmanager
def instrumented_service(env: Mapping[str, str], cwd: Path) -> Iterator[ServiceProcess]:
    """`opentelemetry-instrument tasks-api serve` on free ports, stopped afterwards."""
    port, metrics_port = free_port(), free_port()
    full_env = service_env({"PORT": str(port), "METRICS_PORT": str(metrics_port), **env})
    log_path = cwd / f"instrumented-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), str(BIN / "tasks-api"), "serve"],
            cwd=cwd,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = ServiceProcess(process, port, metrics_port, log_path, full_env)
    try:
        service.wait_ready(timeout=60)
        yield service
    finally:
        service.stop(timeout=40)
        if process.poll() is None:  # pragma: no cover - last resort
            os.killpg(process.pid, signal.SIGKILL)


def _serve_traced(
    receiver: OtlpReceiver, proxied_url: str, tmp_path: Path, protocol: str
) -> ServiceProcess:
    env = {
        "DATABASE_URL": proxied_url,
        "WEB_CONCURRENCY": "2",
        "OTEL_SERVICE_NAME": "tasks-api",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        **({"OTEL_EXPORTER_OTLP_PROTOCOL": protocol} if protocol else {}),
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    }
    with instrumented_service(env, tmp_path) as service:
        with httpx.Client(base_url=service.base_url, timeout=10) as client:
            traffic = Traffic(client)
            auth = sign_in(traffic)
            for index in range(4):  # over both workers
                trace_id = f"{index + 1:032x}"
                traffic.call(
                    "GET",
                    "/api/v1/tasks",
                    "/api/v1/tasks",
                    200,
                    headers={
                        **auth,
                        "traceparent": f"00-{trace_id}-{CALLER_SPAN}-01",
                        "X-Request-ID": f"auto-{index}",
                    },
                )
            for path in ("/healthz", "/readyz"):
                client.get(path)
        assert service.stop(signal.SIGTERM, timeout=40) == 0
    return service


@pytest.mark.parametrize(
    "protocol",
    [
        "http/protobuf",  # what the Operator sets for Python
        "",  # the distro's default: grpc
    ],
)
def test_one_server_span_per_request_under_opentelemetry_instrument(
    proxied_url: str, tmp_path: Path, protocol: str
) -> None:
    receiving = otlp_receiver() if protocol else otlp_grpc_receiver()
    with receiving as receiver:
        service = _serve_traced(receiver, proxied_url, tmp_path, protocol)
        spans = list(receiver.spans)
        metric_scopes = dict(receiver.metric_scopes)
    logs = service.logs()

    for index in range(4):
        trace_id = f"{index + 1:032x}"
        # One server span (FastAPI's native one), not the contrib middleware's as well.
        server = server_span(spans, trace_id)
        assert server.name == "GET /api/v1/tasks"
        assert server.scope == "fastapi"
        assert server.parent_span_id == CALLER_SPAN
        in_trace = [s for s in spans if s.trace_id == trace_id]
        assert not [s for s in in_trace if s.name.endswith(("http send", "http receive"))]
        # The SQLAlchemy spans once; no asyncpg span repeating each statement.
        queries = [s for s in in_trace if s.kind == SPAN_KIND_CLIENT]
        assert queries and {s.scope for s in queries} == {
            "opentelemetry.instrumentation.sqlalchemy"
        }
        assert all(descends_from(s, server, spans) for s in queries)
        line = access_line(logs, f"auto-{index}")
        assert (line["trace_id"], line["span_id"]) == (trace_id, server.span_id)
    assert all(s.kind == SPAN_KIND_SERVER or s.parent_span_id for s in spans)
    assert not [s for s in spans if "healthz" in s.name or "readyz" in s.name]
    # The injected SDK's exporters and resource carried them.
    assert {s.resource["service.name"] for s in spans} == {"tasks-api"}
    assert metric_scopes.get("http.server.request.duration") == {"fastapi"}
    assert not [
        name
        for name in metric_scopes
        if name.startswith("http.server") and "fastapi" not in metric_scopes[name]
    ]
    assert '"auto_instrumentation": true' in logs, "detected, and said so"
    assert "Traceback" not in logs
