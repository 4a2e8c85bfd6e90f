"""OpenTelemetry providers of a tasks-api worker process.

Configuration is the standard OTEL_* environment only:

- OTEL_SDK_DISABLED=true: no providers, no exporters, no instrumentation; log
  lines then carry no trace_id / span_id.
- Otherwise every worker process has a tracer and a meter provider, created
  after fork (in the app lifespan, never in the gunicorn master), each with
  its own `service.instance.id`. Spans get real ids, so log lines carry them.
- A signal is exported over OTLP only when an endpoint is configured for it
  (OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT /
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) and OTEL_TRACES_EXPORTER /
  OTEL_METRICS_EXPORTER is not `none`. Without an endpoint the providers exist
  but export nothing. Headers, timeout, compression and TLS come from the
  matching OTEL_EXPORTER_OTLP_* variables, sampling from OTEL_TRACES_SAMPLER
  and OTEL_TRACES_SAMPLER_ARG, resource additions from OTEL_RESOURCE_ATTRIBUTES
  and OTEL_SERVICE_NAME.
- The protocol is OTLP over HTTP with protobuf (`http/protobuf`, the default);
  another OTEL_EXPORTER_OTLP_*PROTOCOL value is refused with an error line and
  that signal is not exported.
- Export failures are counted in tasks_api_otel_export_failures_total{signal}.
- The lifespan end flushes; the gunicorn worker_exit hook shuts the providers
  down, which exports what is still buffered. Each step gets EXIT_EXPORT_SECONDS:
  a collector that does not answer must not hold a worker's exit until gunicorn
  kills it (the exporter's own timeout is 10 s per signal, and retries).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from opentelemetry import metrics as metrics_api
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from service.config import Settings
from service.telemetry.exporters import CountingMetricExporter, CountingSpanExporter
from service.version import VERSION

log = structlog.get_logger("service.telemetry")

SERVICE_NAME = "tasks-api"
SUPPORTED_PROTOCOL = "http/protobuf"
# Downward API variables of the chart -> resource attributes.
K8S_ATTRIBUTES = {
    "K8S_POD_NAME": "k8s.pod.name",
    "K8S_NAMESPACE_NAME": "k8s.namespace.name",
    "K8S_NODE_NAME": "k8s.node.name",
}
_SIGNAL_VARIABLES = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL),
}
_EXPORTER_SELECTION = {"traces": OTEL_TRACES_EXPORTER, "metrics": OTEL_METRICS_EXPORTER}


@dataclass
class Providers:
    """The SDK providers of one process and the exporters feeding OTLP."""

    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporting: frozenset[str] = field(default_factory=frozenset)
    pid: int = field(default_factory=os.getpid)

    def force_flush(self, timeout_millis: int = 5_000) -> None:
        """Export what is buffered now (spans, then a final metrics collection)."""
        self.tracer_provider.force_flush(timeout_millis)
        self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop both providers; later spans and measurements are dropped."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def sdk_disabled() -> bool:
    """Whether OTEL_SDK_DISABLED turns OpenTelemetry off."""
    return os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true"


def build_resource(settings: Settings) -> Resource:
    """The resource of this process: service, environment, instance and Kubernetes attributes.

    OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME may override the defaults,
    but never `service.instance.id`: it must differ between worker processes.
    """
    attributes: dict[str, str] = {
        "service.name": SERVICE_NAME,
        "service.version": VERSION,
        "deployment.environment.name": str(settings.environment),
    }
    for variable, attribute in K8S_ATTRIBUTES.items():
        if value := os.environ.get(variable):
            attributes[attribute] = value
    from_environment = OTELResourceDetector().detect()
    instance = Resource({"service.instance.id": str(uuid.uuid4())})
    return Resource.create(attributes).merge(from_environment).merge(instance)


def wants_export(signal: str) -> bool:
    """Whether this signal goes out over OTLP (an endpoint is set, exporter not `none`)."""
    environ = os.environ
    endpoint_variable, protocol_variable = _SIGNAL_VARIABLES[signal]
    selected = environ.get(_EXPORTER_SELECTION[signal], "otlp").strip().lower()
    if selected == "none":
        return False
    if not (environ.get(endpoint_variable) or environ.get(OTEL_EXPORTER_OTLP_ENDPOINT)):
        return False
    if selected != "otlp":
        log.error("otel_exporter_unsupported", signal=signal, exporter=selected)
        return False
    protocol = environ.get(protocol_variable) or environ.get(OTEL_EXPORTER_OTLP_PROTOCOL)
    if protocol and protocol.strip() != SUPPORTED_PROTOCOL:
        log.error(
            "otel_protocol_unsupported",
            signal=signal,
            protocol=protocol,
            supported=SUPPORTED_PROTOCOL,
        )
        return False
    return True


def build_providers(settings: Settings) -> Providers | None:
    """New providers for this process; None when OTEL_SDK_DISABLED is true."""
    if sdk_disabled():
        return None
    resource = build_resource(settings)
    exporting = frozenset(signal for signal in _SIGNAL_VARIABLES if wants_export(signal))
    # The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if "traces" in exporting:
        tracer_provider.add_span_processor(BatchSpanProcessor(CountingSpanExporter()))
    readers: list[MetricReader] = []
    if "metrics" in exporting:
        readers.append(PeriodicExportingMetricReader(CountingMetricExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    return Providers(resource, tracer_provider, meter_provider, exporting)


_current: Providers | None = None


def current() -> Providers | None:
    """The providers installed in this process, if any."""
    return _current if _current is not None and _current.pid == os.getpid() else None


def start(settings: Settings) -> Providers | None:
    """Install this process's providers as the global ones, once per process."""
    global _current  # noqa: PLW0603 - one set of providers per process
    if (existing := current()) is not None:
        return existing
    providers = build_providers(settings)
    if providers is None:
        return None
    trace.set_tracer_provider(providers.tracer_provider)
    metrics_api.set_meter_provider(providers.meter_provider)
    _current = providers
    log.info(
        "telemetry_started",
        exporting=sorted(providers.exporting),
        instance=providers.resource.attributes.get("service.instance.id"),
    )
    return providers


# Time the exit steps (flush, shutdown) wait for the exporters before giving up.
EXIT_EXPORT_SECONDS = 3.0


def _within_exit_budget(step: Callable[[], object], name: str) -> None:
    # The exporters block on the network; a daemon thread lets the exit go on without
    # them (the process ends, and the export with it).
    worker = threading.Thread(target=step, name=f"otel-{name}", daemon=True)
    worker.start()
    worker.join(EXIT_EXPORT_SECONDS)
    if worker.is_alive():
        log.warning("telemetry_export_abandoned", step=name, seconds=EXIT_EXPORT_SECONDS)


def flush() -> None:
    """Export what this process has buffered (graceful shutdown of the app)."""
    if (providers := current()) is not None:
        _within_exit_budget(providers.force_flush, "flush")


def shutdown() -> None:
    """Flush and stop this process's providers (the worker is exiting)."""
    if (providers := current()) is not None:
        _within_exit_budget(providers.shutdown, "shutdown")
