"""OTLP over gRPC and over HTTP/protobuf, received by real receivers inside the test.

A served tasks-api on PostgreSQL sends its server span, the database spans
under it and (with OTEL_METRICS_EXPORTER=otlp) its metrics over either
protocol; per-signal protocol variables split the signals between the two;
the sampled flag of each log line says whether its trace was kept.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.observability.live.otlp_grpc_receiver import otlp_grpc_receiver
from tests.observability.live.otlp_receiver import SPAN_KIND_CLIENT, OtlpReceiver, otlp_receiver
from tests.observability.live.spans import access_line, descends_from, server_span
from tests.observability.live.traffic import Traffic, sign_in
from tests.support.server import running_service

pytestmark = pytest.mark.slow

K8S = {
    "K8S_POD_NAME": "tasks-api-6c9d-x2x7q",
    "K8S_POD_UID": "0b8f1b7e-5a43-4f5e-9d3c-2f1e0a9b8c7d",
    "K8S_NAMESPACE_NAME": "tasks",
    "K8S_NODE_NAME": "n1",
    "K8S_DEPLOYMENT_NAME": "tasks-api",
    "K8S_CONTAINER_NAME": "api",
}
# Nothing leaves on a timer: what arrives was flushed by the graceful stop.
NO_TIMERS = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}
CALLER_SPAN = "00f067aa0ba902b7"


@contextmanager
def receiver_of(protocol: str) -> Iterator[OtlpReceiver]:
    """A running receiver of that protocol."""
    with otlp_grpc_receiver() if protocol == "grpc" else otlp_receiver() as receiver:
        yield receiver


def _traced_requests(base_url: str, trace_id: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        traffic = Traffic(client)
        auth = sign_in(traffic)
        traffic.call(
            "GET",
            "/api/v1/tasks",
            "/api/v1/tasks",
            200,
            headers={
                **auth,
                "traceparent": f"00-{trace_id}-{CALLER_SPAN}-01",
                "X-Request-ID": f"req-{trace_id[:8]}",
            },
        )


@pytest.mark.postgres
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_metrics_arrive_over_each_protocol(
    proxied_url: str, tmp_path: Path, protocol: str
) -> None:
    trace_id = ("ab" if protocol == "grpc" else "cd") * 16
    with receiver_of(protocol) as receiver:
        env = {
            "DATABASE_URL": proxied_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_METRICS_EXPORTER": "otlp",
            **NO_TIMERS,
            **K8S,
        }
        with running_service(env, cwd=tmp_path) as service:
            _traced_requests(service.base_url, trace_id)
            assert service.stop(signal.SIGTERM, timeout=30) == 0
        spans = list(receiver.spans)
        metric_names = set(receiver.metric_names)
        metric_resources = list(receiver.metric_resources)

    server = server_span(spans, trace_id)
    assert server.name == "GET /api/v1/tasks"
    assert server.parent_span_id == CALLER_SPAN
    queries = [s for s in spans if s.trace_id == trace_id and s.kind == SPAN_KIND_CLIENT]
    assert queries, "database spans of the request"
    assert all(s.attributes.get("db.system") == "postgresql" for s in queries)
    assert all(descends_from(s, server, spans) for s in queries)
    resource = server.resource
    assert resource["k8s.pod.uid"] == K8S["K8S_POD_UID"]
    assert resource["k8s.deployment.name"] == "tasks-api"
    assert resource["deployment.environment.name"] == "development"
    assert "service.namespace" not in resource
    # The metrics came over the same protocol, from the same worker.
    assert {"http.server.request.duration", "db.client.connections.usage"} <= metric_names
    assert metric_resources[0]["service.instance.id"] == resource["service.instance.id"]
    line = access_line(service.logs(), f"req-{trace_id[:8]}")
    assert (line["trace_id"], line["span_id"], line["trace_sampled"]) == (
        trace_id,
        server.span_id,
        True,
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("traces_protocol", "metrics_protocol"),
    # The general protocol is http/protobuf: first the traces' variable overrides
    # it, then the metrics' one.
    [("grpc", "http/protobuf"), ("http/protobuf", "grpc")],
)
def test_per_signal_protocol_variables_split_the_signals(
    proxied_url: str, tmp_path: Path, traces_protocol: str, metrics_protocol: str
) -> None:
    trace_id = "ef" * 16
    with receiver_of(traces_protocol) as traces, receiver_of(metrics_protocol) as metrics:
        metrics_path = "/v1/metrics" if metrics_protocol == "http/protobuf" else ""
        traces_path = "/v1/traces" if traces_protocol == "http/protobuf" else ""
        env = {
            "DATABASE_URL": proxied_url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": traces_protocol,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces.endpoint + traces_path,
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": metrics_protocol,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics.endpoint + metrics_path,
            "OTEL_METRICS_EXPORTER": "otlp",
            **NO_TIMERS,
        }
        with running_service(env, cwd=tmp_path) as service:
            _traced_requests(service.base_url, trace_id)
            assert service.stop(signal.SIGTERM, timeout=30) == 0
    assert server_span(list(traces.spans), trace_id).name == "GET /api/v1/tasks"
    assert traces.metric_names == set(), "no metrics at the traces receiver"
    assert "http.server.request.duration" in metrics.metric_names
    assert metrics.span_count() == 0, "no spans at the metrics receiver"
    assert "otel_protocol" not in service.logs()
    assert "Traceback" not in service.logs()


CALLER_SAMPLED = "11" * 16
CALLER_UNSAMPLED = "22" * 16


def test_log_lines_say_whether_their_trace_was_sampled(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            # The chart's sampler; a ratio of 0 samples no trace that starts here.
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0",
            **NO_TIMERS,
        }
        with running_service(env, cwd=tmp_path) as service:
            requests = {
                "kept": {"traceparent": f"00-{CALLER_SAMPLED}-{CALLER_SPAN}-01"},
                "dropped-by-caller": {"traceparent": f"00-{CALLER_UNSAMPLED}-{CALLER_SPAN}-00"},
                "dropped-by-ratio": {},
            }
            for request_id, headers in requests.items():
                response = httpx.post(
                    f"{service.base_url}/api/v1/users",
                    json={},
                    headers={**headers, "X-Request-ID": request_id},
                )
                assert response.status_code == 422
            assert service.stop(signal.SIGTERM, timeout=30) == 0
        exported = {span.trace_id for span in receiver.spans}

    lines = {request_id: access_line(service.logs(), request_id) for request_id in requests}
    assert lines["kept"]["trace_id"] == CALLER_SAMPLED
    assert lines["kept"]["trace_sampled"] is True
    assert lines["dropped-by-caller"]["trace_id"] == CALLER_UNSAMPLED
    assert lines["dropped-by-caller"]["trace_sampled"] is False
    # A trace id of its own, unsampled: the id still ties the request's lines together.
    assert len(lines["dropped-by-ratio"]["trace_id"]) == 32
    assert lines["dropped-by-ratio"]["trace_sampled"] is False
    # The flags tell the truth: exactly the sampled trace reached the receiver.
    assert exported == {CALLER_SAMPLED}
