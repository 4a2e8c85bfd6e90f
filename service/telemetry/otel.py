"""OpenTelemetry providers of a tasks-api worker process.

Configuration is the standard OTEL_* environment only (service.telemetry.environment
says which signals are exported and over which protocol):

- OTEL_SDK_DISABLED=true: no providers, no exporters, no instrumentation; log
  lines then carry no trace_id / span_id.
- Otherwise every worker process has a tracer and a meter provider, created
  after fork (in the app lifespan, never in the gunicorn master), with a
  `service.instance.id` of its pod and worker slot. Spans get real ids, so log
  lines carry them. Without an endpoint the providers exist but export nothing.
- Traces go out over OTLP gRPC or HTTP/protobuf when an endpoint is set;
  metrics only with OTEL_METRICS_EXPORTER=otlp (they are all scraped anyway).
  Headers, timeout, compression and TLS come from the matching
  OTEL_EXPORTER_OTLP_* variables, sampling from OTEL_TRACES_SAMPLER and
  OTEL_TRACES_SAMPLER_ARG, resource additions from OTEL_RESOURCE_ATTRIBUTES and
  OTEL_SERVICE_NAME. An unknown protocol or exporter stops `serve` at start.
- Under OpenTelemetry auto-instrumentation (the Operator's injection, or
  `opentelemetry-instrument tasks-api serve`) the SDK providers it installed
  are adopted instead (see service.telemetry.auto): one pipeline, one span each.
- Export failures of tasks-api's own exporters are counted in
  tasks_api_otel_export_failures_total{signal}.
- The lifespan end flushes; the gunicorn worker_exit hook shuts the providers
  down, which exports what is still buffered. Each step gets EXIT_EXPORT_SECONDS:
  a collector that does not answer must not hold a worker's exit until gunicorn
  kills it (the exporter's own timeout is 10 s per signal, and retries).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from opentelemetry import metrics as metrics_api
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from service.config import Settings
from service.telemetry import auto, environment
from service.telemetry.exporters import metric_exporter, span_exporter
from service.telemetry.resource import build_resource, claim_worker_slot

log = structlog.get_logger("service.telemetry")


@dataclass
class Providers:
    """The SDK providers of one process and the signals they export over OTLP."""

    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporting: dict[str, str] = field(default_factory=dict)
    # False when auto-instrumentation installed them (its exporters, its resource).
    owned: bool = True
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
    return environment.sdk_disabled()


def wants_export(signal: str) -> bool:
    """Whether this signal goes out over OTLP (raises TelemetryConfigError on a bad value)."""
    return signal in environment.exported_signals()


def build_providers(settings: Settings, slot: int | None = None) -> Providers | None:
    """New providers for this process; None when OTEL_SDK_DISABLED is true."""
    if sdk_disabled():
        return None
    exporting = environment.exported_signals()
    resource = build_resource(settings, slot)
    # The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if "traces" in exporting:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter(exporting["traces"])))
    readers: list[MetricReader] = []
    if "metrics" in exporting:
        readers.append(PeriodicExportingMetricReader(metric_exporter(exporting["metrics"])))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    return Providers(resource, tracer_provider, meter_provider, exporting)


def _adopted() -> Providers | None:
    # Auto-instrumentation set the global providers before tasks-api ran (in the
    # gunicorn master, inherited by fork): they cannot be replaced, so use them.
    installed = auto.installed_providers()
    if installed is None:
        return None
    tracer_provider, meter_provider = installed
    # Its exporters follow the same variables (its distro defaults the protocol to grpc).
    exporting = environment.exported_signals()
    return Providers(tracer_provider.resource, tracer_provider, meter_provider, exporting, False)


_current: Providers | None = None


def current() -> Providers | None:
    """The providers installed in this process, if any."""
    return _current if _current is not None and _current.pid == os.getpid() else None


def start(settings: Settings) -> Providers | None:
    """Install this process's providers as the global ones, once per process."""
    global _current  # noqa: PLW0603 - one set of providers per process
    if (existing := current()) is not None:
        return existing
    if sdk_disabled():
        return None
    providers = _adopted()
    slot = None
    if providers is None:
        slot = claim_worker_slot()
        providers = build_providers(settings, slot)
        if providers is None:
            return None
        trace.set_tracer_provider(providers.tracer_provider)
        metrics_api.set_meter_provider(providers.meter_provider)
    _current = providers
    log.info(
        "telemetry_started",
        exporting=sorted(providers.exporting),
        protocols=sorted(set(providers.exporting.values())),
        auto_instrumentation=not providers.owned,
        instance=providers.resource.attributes.get("service.instance.id"),
        worker_slot=slot,
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
