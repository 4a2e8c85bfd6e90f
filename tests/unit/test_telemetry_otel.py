"""OpenTelemetry configuration from the environment: resource, export selection, disabling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from service.app import create_app
from service.config import Settings
from service.telemetry import otel, resource
from service.telemetry.environment import TelemetryConfigError
from service.telemetry.exporters import CountingSpanExporter
from service.telemetry.resource import build_resource
from tests.support.apps import make_settings

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    *resource.K8S_ATTRIBUTES,
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
    downward = {
        "K8S_POD_NAME": "tasks-api-5f7c-abcde",
        "K8S_POD_UID": "0b8f1b7e-5a43-4f5e-9d3c-2f1e0a9b8c7d",
        "K8S_NAMESPACE_NAME": "tasks",
        "K8S_NODE_NAME": "node-3",
        "K8S_DEPLOYMENT_NAME": "tasks-api",
        "K8S_CONTAINER_NAME": "api",
    }
    for name, value in downward.items():
        monkeypatch.setenv(name, value)
    attributes = build_resource(settings).attributes
    assert attributes["service.name"] == "tasks-api"
    assert attributes["service.version"]
    assert attributes["deployment.environment.name"] == "development"
    assert len(str(attributes["service.instance.id"])) == 36
    assert attributes["k8s.pod.name"] == "tasks-api-5f7c-abcde"
    assert attributes["k8s.pod.uid"] == downward["K8S_POD_UID"]
    assert attributes["k8s.namespace.name"] == "tasks"
    assert attributes["k8s.node.name"] == "node-3"
    assert attributes["k8s.deployment.name"] == "tasks-api"
    assert attributes["k8s.container.name"] == "api"
    # A group of services, never the Kubernetes namespace; not set unless configured.
    assert "service.namespace" not in attributes
    assert "deployment.environment" not in attributes, "the deprecated name"


def test_service_namespace_only_from_the_resource_attributes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_NAMESPACE_NAME", "tasks")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=payments")
    attributes = build_resource(settings).attributes
    assert attributes["service.namespace"] == "payments"
    assert attributes["k8s.namespace.name"] == "tasks"


def test_instance_id_is_stable_per_pod_and_worker_slot(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_POD_NAME", "tasks-api-5f7c-abcde")
    monkeypatch.setenv("K8S_NAMESPACE_NAME", "tasks")
    first = build_resource(settings, slot=0).attributes["service.instance.id"]
    again = build_resource(settings, slot=0).attributes["service.instance.id"]
    other_slot = build_resource(settings, slot=1).attributes["service.instance.id"]
    monkeypatch.setenv("K8S_POD_NAME", "tasks-api-5f7c-fghij")
    other_pod = build_resource(settings, slot=0).attributes["service.instance.id"]
    assert first == again, "a recycled worker keeps its slot's id"
    assert len({first, other_slot, other_pod}) == 3


def test_without_a_pod_the_host_and_port_name_the_instance(settings: Settings) -> None:
    other_port = settings.model_copy(update={"port": settings.port + 1})
    ids = {
        build_resource(s, slot=0).attributes["service.instance.id"] for s in (settings, other_port)
    }
    assert len(ids) == 2, "two servers on one host never share an id"


def test_live_workers_never_share_a_slot(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path;"
        "from service.telemetry.resource import claim_worker_slot;"
        "print(claim_worker_slot(Path(sys.argv[1])), flush=True); time.sleep(30)"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    try:
        slots = [int(worker.stdout.readline()) for worker in workers if worker.stdout]
        assert sorted(slots) == [0, 1, 2]
        # The holder of slot 1 dies (SIGKILL: no clean-up): its replacement gets slot 1.
        dying = workers[slots.index(1)]
        dying.kill()
        dying.wait(10)
        replacement = subprocess.run(
            [sys.executable, "-c", script.replace("time.sleep(30)", "pass"), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert replacement.stdout.strip() == "1"
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)


def test_an_unusable_slot_directory_means_a_random_instance_id(
    settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    resource.release_worker_slot()
    slot = resource.claim_worker_slot(blocker / "slots")
    assert slot is None
    first = build_resource(settings, slot).attributes["service.instance.id"]
    second = build_resource(settings, slot).attributes["service.instance.id"]
    assert first != second


def test_kubernetes_attributes_only_when_the_downward_api_sets_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K8S_POD_NAME", "")
    attributes = build_resource(settings).attributes
    assert not [key for key in attributes if key.startswith("k8s.")]


def test_environment_adds_attributes_but_never_a_shared_instance_id(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-1,team=platform")
    first = build_resource(settings).attributes
    second = build_resource(settings).attributes
    assert first["team"] == "platform"
    assert first["service.instance.id"] != "pod-1"
    assert first["service.instance.id"] != second["service.instance.id"], "one per process"


def test_providers_without_endpoint_create_ids_but_export_nothing(settings: Settings) -> None:
    providers = otel.build_providers(settings)
    assert providers is not None
    assert providers.exporting == {}
    span = providers.tracer_provider.get_tracer("test").start_span("work")
    assert span.get_span_context().is_valid
    span.end()
    processors = providers.tracer_provider._active_span_processor._span_processors
    assert processors == ()


@pytest.mark.parametrize(
    ("protocol", "module"),
    [
        ("http/protobuf", "opentelemetry.exporter.otlp.proto.http"),
        ("grpc", "opentelemetry.exporter.otlp.proto.grpc"),
    ],
)
def test_providers_with_endpoint_batch_to_the_counting_exporter_of_the_protocol(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, protocol: str, module: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    providers = otel.build_providers(settings)
    assert providers is not None
    try:
        assert providers.exporting == {"traces": protocol, "metrics": protocol}
        processors = providers.tracer_provider._active_span_processor._span_processors
        assert [type(processor) for processor in processors] == [BatchSpanProcessor]
        (batch,) = processors
        assert isinstance(batch, BatchSpanProcessor)
        exporter = batch.span_exporter
        assert isinstance(exporter, CountingSpanExporter)
        assert type(exporter.exporter).__module__.startswith(module)
    finally:
        providers.shutdown()


def test_an_unknown_protocol_builds_no_providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(TelemetryConfigError, match="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        otel.build_providers(settings)


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
    # Server spans; no per-dependency spans, no OTLP logs, and no OTLP HTTP metrics
    # unless metrics are exported (Prometheus scrapes the durations).
    assert on["tracing"]
    assert not (on["metrics"] or on["logs"] or on["operation_spans"] or on["auto_configure"])
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    assert create_app(settings)._telemetry["metrics"]
    # One instrumentation only: the contrib FastAPI instrumentor would double the spans.
    for app in (disabled, enabled):
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    # Prometheus request metrics do not depend on OpenTelemetry.
    for app in (disabled, enabled):
        assert "HttpMetricsMiddleware" in [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]
