"""OTLP/HTTP exporters that count what they fail to deliver.

The SDK drops a batch after a failed export and only logs it; the Prometheus
counter tasks_api_otel_export_failures_total{signal} makes lost traces and
OTLP metrics visible (and alertable) on the scraped /metrics endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from service.telemetry import metrics

log = structlog.get_logger("service.telemetry")


def count_data_points(data: MetricsData) -> int:
    """The number of data points in one metrics export."""
    return sum(
        len(metric.data.data_points)
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


class CountingSpanExporter(OTLPSpanExporter):
    """OTLP/HTTP span exporter; spans of a failed export are counted as lost."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = super().export(spans)
        except Exception as error:
            log.warning("otel_export_failed", signal="traces", error=type(error).__name__)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            metrics.count_export_failures("traces", len(spans))
        return result


class CountingMetricExporter(OTLPMetricExporter):
    """OTLP/HTTP metric exporter; data points of a failed export are counted as lost."""

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = super().export(metrics_data, timeout_millis, **kwargs)
        except Exception as error:
            log.warning("otel_export_failed", signal="metrics", error=type(error).__name__)
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            metrics.count_export_failures("metrics", count_data_points(metrics_data))
        return result
