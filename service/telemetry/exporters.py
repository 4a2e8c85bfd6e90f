"""OTLP exporters (gRPC or HTTP/protobuf) that count what they fail to deliver.

The SDK drops a batch after a failed export and only logs it; the Prometheus
counter tasks_api_otel_export_failures_total{signal} makes lost traces and
OTLP metrics visible (and alertable) on the scraped /metrics endpoint. The
counting wraps the SDK's exporter of either protocol, which reads its endpoint,
headers, timeout, compression and TLS from the standard OTEL_EXPORTER_OTLP_*
variables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from service.telemetry import metrics
from service.telemetry.environment import GRPC

log = structlog.get_logger("service.telemetry")


def count_data_points(data: MetricsData) -> int:
    """The number of data points in one metrics export."""
    return sum(
        len(metric.data.data_points)
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


ResultT = TypeVar("ResultT", SpanExportResult, MetricExportResult)


def _counted(
    signal: str, export: Callable[[], ResultT], failure: ResultT, lost: Callable[[], int]
) -> ResultT:
    # An exporter that raises has failed too; either way the lost items are counted.
    try:
        result = export()
    except Exception as error:
        log.warning("otel_export_failed", signal=signal, error=type(error).__name__)
        result = failure
    if result is not type(result).SUCCESS:
        metrics.count_export_failures(signal, lost())
    return result


class CountingSpanExporter(SpanExporter):
    """A span exporter whose failed exports count their spans as lost."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return _counted(
            "traces",
            lambda: self.exporter.export(spans),
            SpanExportResult.FAILURE,
            lambda: len(spans),
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """A metric exporter whose failed exports count their data points as lost."""

    def __init__(self, exporter: MetricExporter) -> None:
        # The reader asks the exporter for temporality and aggregation: the wrapped one's.
        super().__init__(exporter._preferred_temporality, exporter._preferred_aggregation)
        self.exporter = exporter

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return _counted(
            "metrics",
            lambda: self.exporter.export(metrics_data, timeout_millis, **kwargs),
            MetricExportResult.FAILURE,
            lambda: count_data_points(metrics_data),
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.exporter.shutdown(timeout_millis, **kwargs)


# grpcio is imported only when a signal is exported over gRPC.


def span_exporter(protocol: str) -> CountingSpanExporter:
    """The counting OTLP span exporter of this protocol, configured from OTEL_* variables."""
    if protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return CountingSpanExporter(GrpcSpanExporter())
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return CountingSpanExporter(OTLPSpanExporter())


def metric_exporter(protocol: str) -> CountingMetricExporter:
    """The counting OTLP metric exporter of this protocol, configured from OTEL_* variables."""
    if protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return CountingMetricExporter(GrpcMetricExporter())
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return CountingMetricExporter(OTLPMetricExporter())
