"""Which signals go out over OTLP, over which protocol, and what is refused."""

from __future__ import annotations

import pytest

from service.telemetry.environment import (
    TelemetryConfigError,
    configuration_problem,
    exported_signals,
)

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        (ENDPOINT, {"traces": "http/protobuf"}),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, {"traces": "grpc"}),
        (
            {**ENDPOINT, "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            {"traces": "grpc", "metrics": "grpc"},
        ),
        # The per-signal variable wins over the general one, in both directions.
        (
            {
                **ENDPOINT,
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            },
            {"traces": "grpc", "metrics": "http/protobuf"},
        ),
        (
            {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": " grpc "},
            {"traces": "grpc"},
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces"},
            {"traces": "http/protobuf"},
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics",
                "OTEL_METRICS_EXPORTER": "otlp",
            },
            {"metrics": "http/protobuf"},
        ),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, {}),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "bad"}, {}),
    ],
)
def test_signals_and_protocols_follow_the_variables(
    environ: dict[str, str], expected: dict[str, str]
) -> None:
    assert exported_signals(environ) == expected
    assert configuration_problem(environ) is None


def test_metrics_are_not_pushed_unless_asked_for() -> None:
    # Every metric is scraped from /metrics: an endpoint alone exports traces only.
    assert "metrics" not in exported_signals(
        {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318"}
    )


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        (
            {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported: use grpc or http/protobuf",
        ),
        (
            {**ENDPOINT, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "udp"},
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL='udp' is not supported: use grpc or http/protobuf",
        ),
        # Also without an endpoint: the typo shows before the day an endpoint is set.
        (
            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "GRPC"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='GRPC' is not supported: use grpc or http/protobuf",
        ),
        (
            {**ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"},
            "OTEL_TRACES_EXPORTER='zipkin' is not supported: use otlp or none",
        ),
        (
            {**ENDPOINT, "OTEL_METRICS_EXPORTER": "prometheus"},
            "OTEL_METRICS_EXPORTER='prometheus' is not supported: use otlp or none",
        ),
    ],
)
def test_an_unknown_protocol_or_exporter_is_refused_in_one_line(
    environ: dict[str, str], line: str
) -> None:
    assert configuration_problem(environ) == line
    with pytest.raises(TelemetryConfigError):
        exported_signals(environ)
