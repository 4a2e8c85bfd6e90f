"""OTLP exports (gRPC and HTTP) that fail are counted in tasks_api_otel_export_failures_total."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from service.telemetry.exporters import (
    CountingMetricExporter,
    CountingSpanExporter,
    count_data_points,
    metric_exporter,
    span_exporter,
)
from tests.observability.live.otlp_grpc_receiver import otlp_grpc_receiver
from tests.observability.live.otlp_receiver import OtlpReceiver, otlp_receiver
from tests.support.server import free_port


def failures(signal: str) -> float:
    value = REGISTRY.get_sample_value("tasks_api_otel_export_failures_total", {"signal": signal})
    return value or 0.0


def finished_spans(count: int) -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"work-{index}"):
            pass
    return memory.get_finished_spans()


def metrics_data() -> MetricsData:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    counter = meter.create_counter("tasks.seen")
    for kind in ("a", "b", "c"):
        counter.add(1, {"kind": kind})
    data = reader.get_metrics_data()
    assert data is not None
    return data


@pytest.fixture
def closed_endpoint() -> str:
    """An endpoint on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


def test_delivered_spans_are_not_counted(receiver: OtlpReceiver) -> None:
    before = failures("traces")
    exporter = CountingSpanExporter(
        OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", timeout=2)
    )
    assert exporter.export(finished_spans(2)) is SpanExportResult.SUCCESS
    assert receiver.span_count() == 2
    assert failures("traces") == before


def test_spans_of_a_failed_export_are_counted(closed_endpoint: str) -> None:
    before = failures("traces")
    exporter = CountingSpanExporter(
        OTLPSpanExporter(endpoint=f"{closed_endpoint}/v1/traces", timeout=0.5)
    )
    assert exporter.export(finished_spans(3)) is SpanExportResult.FAILURE
    assert failures("traces") == before + 3


def test_spans_are_counted_when_the_exporter_raises(
    monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    def broken(self: OTLPSpanExporter, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(OTLPSpanExporter, "export", broken)
    before = failures("traces")
    exporter = CountingSpanExporter(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    assert exporter.export(finished_spans(2)) is SpanExportResult.FAILURE
    assert failures("traces") == before + 2


def test_spans_after_shutdown_are_counted(receiver: OtlpReceiver) -> None:
    exporter = CountingSpanExporter(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    exporter.shutdown()
    before = failures("traces")
    assert exporter.export(finished_spans(1)) is SpanExportResult.FAILURE
    assert failures("traces") == before + 1
    assert receiver.span_count() == 0


def test_delivered_metrics_are_not_counted(receiver: OtlpReceiver) -> None:
    before = failures("metrics")
    exporter = CountingMetricExporter(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics", timeout=2)
    )
    assert exporter.export(metrics_data()) is MetricExportResult.SUCCESS
    assert "tasks.seen" in receiver.metric_names
    assert failures("metrics") == before


def test_data_points_of_a_failed_metrics_export_are_counted(closed_endpoint: str) -> None:
    data = metrics_data()
    assert count_data_points(data) == 3
    before = failures("metrics")
    exporter = CountingMetricExporter(
        OTLPMetricExporter(endpoint=f"{closed_endpoint}/v1/metrics", timeout=0.5)
    )
    assert exporter.export(data) is MetricExportResult.FAILURE
    assert failures("metrics") == before + 3


def test_spans_delivered_over_grpc_are_not_counted() -> None:
    with otlp_grpc_receiver() as receiver:
        before = failures("traces")
        exporter = CountingSpanExporter(GrpcSpanExporter(endpoint=receiver.endpoint, timeout=5))
        assert exporter.export(finished_spans(2)) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert receiver.span_count() == 2
    assert failures("traces") == before


def test_spans_of_a_failed_grpc_export_are_counted(closed_endpoint: str) -> None:
    before = failures("traces")
    exporter = CountingSpanExporter(GrpcSpanExporter(endpoint=closed_endpoint, timeout=1))
    assert exporter.export(finished_spans(3)) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert failures("traces") == before + 3


def test_data_points_of_a_failed_grpc_metrics_export_are_counted(closed_endpoint: str) -> None:
    before = failures("metrics")
    exporter = CountingMetricExporter(GrpcMetricExporter(endpoint=closed_endpoint, timeout=1))
    assert exporter.export(metrics_data()) is MetricExportResult.FAILURE
    exporter.shutdown()
    assert failures("metrics") == before + 3


@pytest.mark.parametrize(
    ("protocol", "module"),
    [
        ("grpc", "opentelemetry.exporter.otlp.proto.grpc"),
        ("http/protobuf", "opentelemetry.exporter.otlp.proto.http"),
    ],
)
def test_the_protocol_picks_the_exporter(protocol: str, module: str) -> None:
    spans, points = span_exporter(protocol), metric_exporter(protocol)
    try:
        assert type(spans.exporter).__module__.startswith(module)
        assert type(points.exporter).__module__.startswith(module)
    finally:
        spans.shutdown()
        points.shutdown()
