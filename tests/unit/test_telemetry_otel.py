"""OpenTelemetry configuration from the environment: resource, export selection, disabling."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from service.app import create_app
from service.config import Settings
from service.telemetry import otel
from tests.conftest import make_settings

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "K8S_POD_NAME",
    "K8S_NAMESPACE_NAME",
    "K8S_NODE_NAME",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in OTEL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def settings() -> Settings:
    return make_settings("sqlite+aiosqlite:///unused.db", environment="development")


def test_resource_names_the_service_its_version_environment_and_instance(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_POD_NAME", "tasks-api-5f7c-abcde")
    monkeypatch.setenv("K8S_NAMESPACE_NAME", "tasks")
    monkeypatch.setenv("K8S_NODE_NAME", "node-3")
    attributes = otel.build_resource(settings).attributes
    assert attributes["service.name"] == "tasks-api"
    assert attributes["service.version"]
    assert attributes["deployment.environment.name"] == "development"
    assert len(str(attributes["service.instance.id"])) == 36
    assert attributes["k8s.pod.name"] == "tasks-api-5f7c-abcde"
    assert attributes["k8s.namespace.name"] == "tasks"
    assert attributes["k8s.node.name"] == "node-3"


def test_kubernetes_attributes_only_when_the_downward_api_sets_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_POD_NAME", "")
    attributes = otel.build_resource(settings).attributes
    assert not [key for key in attributes if key.startswith("k8s.")]


def test_environment_adds_attributes_but_never_a_shared_instance_id(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-1,team=platform")
    first = otel.build_resource(settings).attributes
    second = otel.build_resource(settings).attributes
    assert first["team"] == "platform"
    assert first["service.instance.id"] != "pod-1"
    assert first["service.instance.id"] != second["service.instance.id"], "one per process"


@pytest.mark.parametrize(
    ("variables", "traces", "metrics"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces"}, True, False),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, False, True),
    ],
)
def test_a_signal_is_exported_when_an_endpoint_is_configured(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], traces: bool, metrics: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert (otel.wants_export("traces"), otel.wants_export("metrics")) == (traces, metrics)


def test_nothing_is_exported_without_an_endpoint() -> None:
    assert not otel.wants_export("traces")
    assert not otel.wants_export("metrics")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ],
)
def test_no_export_for_a_disabled_or_unsupported_exporter(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv(variable, value)
    assert not otel.wants_export("traces")


def test_providers_without_endpoint_create_ids_but_export_nothing(settings: Settings) -> None:
    providers = otel.build_providers(settings)
    assert providers is not None
    assert providers.exporting == frozenset()
    span = providers.tracer_provider.get_tracer("test").start_span("work")
    assert span.get_span_context().is_valid
    span.end()
    processors = providers.tracer_provider._active_span_processor._span_processors
    assert processors == ()


def test_providers_with_endpoint_batch_to_the_counting_exporter(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    providers = otel.build_providers(settings)
    assert providers is not None
    try:
        assert providers.exporting == {"traces", "metrics"}
        processors = providers.tracer_provider._active_span_processor._span_processors
        assert [type(processor) for processor in processors] == [BatchSpanProcessor]
    finally:
        providers.shutdown()


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_disabled_sdk_means_no_providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert otel.sdk_disabled()
    assert otel.build_providers(settings) is None


@pytest.mark.parametrize("value", ["false", "", "1"])
def test_sdk_stays_on_unless_disabled_is_true(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", value)
    assert not otel.sdk_disabled()
    assert otel.build_providers(settings) is not None


def test_disabled_sdk_turns_fastapi_native_telemetry_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    disabled = create_app(settings)
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    enabled = create_app(settings)
    # FastAPI keeps its telemetry settings in private attributes (no public accessor).
    off, on = disabled._telemetry, enabled._telemetry
    assert not (off["tracing"] or off["metrics"] or off["logs"])
    assert not disabled._native_telemetry.enabled()
    # Server spans and HTTP metrics; no per-dependency spans, no OTLP logs.
    assert on["tracing"] and on["metrics"]
    assert not (on["logs"] or on["operation_spans"] or on["auto_configure"])
    # One instrumentation only: the contrib FastAPI instrumentor would double the spans.
    for app in (disabled, enabled):
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    # Prometheus request metrics do not depend on OpenTelemetry.
    for app in (disabled, enabled):
        assert "HttpMetricsMiddleware" in [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
