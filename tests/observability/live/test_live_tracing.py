"""What a served tasks-api exports over OTLP/HTTP, received and decoded inside the test."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.observability.live.otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    otlp_receiver,
)
from tests.observability.live.spans import access_line, descends_from, server_span
from tests.observability.live.traffic import Traffic, sign_in
from tests.support.proxy import Mode, TcpProxy
from tests.support.server import running_service

pytestmark = pytest.mark.slow

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
K8S = {"K8S_POD_NAME": "tasks-api-6c9d-x2x7q", "K8S_NAMESPACE_NAME": "tasks", "K8S_NODE_NAME": "n1"}


@pytest.mark.postgres
def test_spans_metrics_and_log_ids_reach_otlp_after_a_graceful_stop(
    proxied_url: str, database_proxy: TcpProxy, tmp_path: Path
) -> None:
    with otlp_receiver() as receiver:
        env = {
            "DATABASE_URL": proxied_url,
            "DB_CONNECT_TIMEOUT_SECONDS": "1",
            "DRAIN_DELAY_SECONDS": "0.2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            # Nothing leaves on a timer: what arrives was flushed by the graceful stop.
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            **K8S,
        }
        with running_service(env, cwd=tmp_path) as service:
            with httpx.Client(base_url=service.base_url, timeout=10) as client:
                traffic = Traffic(client)
                auth = sign_in(traffic)
                traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
                traffic.call(
                    "GET",
                    "/api/v1/tasks",
                    "/api/v1/tasks",
                    200,
                    headers={**auth, "traceparent": traceparent, "X-Request-ID": "traced-1"},
                )
                for path in ("/healthz", "/readyz", "/healthz", "/readyz"):
                    client.get(path)
                database_proxy.set_mode(Mode.REFUSE)
                try:
                    traffic.call(
                        "GET",
                        "/api/v1/tasks",
                        "/api/v1/tasks",
                        503,
                        headers={**auth, "X-Request-ID": "failing-1"},
                    )
                finally:
                    database_proxy.set_mode(Mode.FORWARD)
            assert receiver.span_count() == 0, "spans left before the stop"
            assert service.stop(signal.SIGTERM, timeout=30) == 0
            logs = service.logs()
        spans = list(receiver.spans)

    traced = server_span(spans, CALLER_TRACE)
    assert traced.name == "GET /api/v1/tasks"
    assert traced.parent_span_id == CALLER_SPAN, "the caller's traceparent is continued"
    assert traced.attributes["http.route"] == "/api/v1/tasks"
    assert traced.attributes["http.request.method"] == "GET"
    assert traced.attributes["http.response.status_code"] == 200
    queries = [s for s in spans if s.trace_id == CALLER_TRACE and s.kind == SPAN_KIND_CLIENT]
    assert queries, "database spans of the request"
    assert all(s.attributes.get("db.system") == "postgresql" for s in queries)
    assert all(descends_from(s, traced, spans) for s in queries)

    line = access_line(logs, "traced-1")
    assert (line["trace_id"], line["span_id"]) == (traced.trace_id, traced.span_id)
    assert line["trace_sampled"] is True

    failing_line = access_line(logs, "failing-1")
    failing = server_span(spans, failing_line["trace_id"])
    assert failing.span_id == failing_line["span_id"]
    assert failing.attributes["http.response.status_code"] == 503
    assert failing.status_code == STATUS_ERROR
    exceptions = [attributes for name, attributes in failing.events if name == "exception"]
    assert exceptions and "exception.type" in exceptions[0]

    span_ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id not in span_ids]
    assert all(s.kind == SPAN_KIND_SERVER for s in roots), "no orphan spans (readiness checks)"
    assert not [s for s in spans if any(p in s.name for p in ("healthz", "readyz", "metrics"))]

    resource = traced.resource
    assert resource["service.name"] == "tasks-api"
    assert resource["service.version"]
    assert resource["deployment.environment.name"] == "development"
    assert resource["service.instance.id"]
    assert resource["k8s.pod.name"] == K8S["K8S_POD_NAME"]
    assert resource["k8s.namespace.name"] == "tasks"
    assert resource["k8s.node.name"] == "n1"
    assert "service.namespace" not in resource, "a group of services, not the k8s namespace"
    # Metrics are scraped; OTLP carries them only with OTEL_METRICS_EXPORTER=otlp.
    assert receiver.metric_names == set()


def test_disabled_sdk_exports_nothing_and_logs_no_ids(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        env = {
            "OTEL_SDK_DISABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "DRAIN_DELAY_SECONDS": "0.2",
        }
        with running_service(env, cwd=tmp_path) as service:
            response = httpx.post(
                f"{service.base_url}/api/v1/users", json={}, headers={"X-Request-ID": "off-1"}
            )
            assert service.stop(signal.SIGTERM, timeout=30) == 0
        assert response.status_code == 422
        assert receiver.span_count() == 0
        assert receiver.metric_names == set()
    line = access_line(service.logs(), "off-1")
    assert "trace_id" not in line
    assert "span_id" not in line


def test_without_an_endpoint_logs_still_carry_ids(tmp_path: Path) -> None:
    with running_service({"DRAIN_DELAY_SECONDS": "0.2"}, cwd=tmp_path) as service:
        traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
        httpx.post(
            f"{service.base_url}/api/v1/users",
            json={},
            headers={"X-Request-ID": "local-1", "traceparent": traceparent},
        )
    line = access_line(service.logs(), "local-1")
    assert line["trace_id"] == CALLER_TRACE
    assert len(line["span_id"]) == 16
    assert line["span_id"] != CALLER_SPAN
    started = [json.loads(x) for x in service.logs().splitlines() if "telemetry_started" in x]
    assert started and started[0]["exporting"] == []
