"""Which signals go out over OTLP, and how, from the standard OTEL_* variables.

No Prometheus and no SDK imports here: `serve` checks these variables in the
gunicorn master, before prometheus_client may be imported.

- Traces are exported when an endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_TRACES_EXPORTER is not `none`.
- Metrics are exported over OTLP only when OTEL_METRICS_EXPORTER=otlp is set
  explicitly (and an endpoint is): every metric of tasks-api is scraped from
  /metrics, so by default nothing is pushed twice.
- The protocol is OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL, else
  OTEL_EXPORTER_OTLP_PROTOCOL, else `http/protobuf`; `grpc` is the other one.
  Any other protocol or exporter is a configuration error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
PROTOCOLS = (GRPC, HTTP_PROTOBUF)
SIGNALS = ("traces", "metrics")
EXPORTERS = ("otlp", "none")
# What an unset OTEL_{signal}_EXPORTER means for tasks-api.
DEFAULT_EXPORTER = {"traces": "otlp", "metrics": "none"}


class TelemetryConfigError(ValueError):
    """An OTEL_* variable has a value tasks-api cannot honour."""


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def exporter(signal: str, environ: Mapping[str, str] | None = None) -> str:
    """`otlp` or `none` for this signal (TelemetryConfigError for anything else)."""
    environ = os.environ if environ is None else environ
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    selected = _get(environ, variable).lower() or DEFAULT_EXPORTER[signal]
    if selected not in EXPORTERS:
        raise TelemetryConfigError(
            f"{variable}={selected!r} is not supported: use {' or '.join(EXPORTERS)}"
        )
    return selected


def protocol(signal: str, environ: Mapping[str, str] | None = None) -> str:
    """The OTLP protocol of this signal (TelemetryConfigError for an unknown one)."""
    environ = os.environ if environ is None else environ
    own = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    for variable in (own, "OTEL_EXPORTER_OTLP_PROTOCOL"):
        if value := _get(environ, variable):
            if value not in PROTOCOLS:
                raise TelemetryConfigError(
                    f"{variable}={value!r} is not supported: use {' or '.join(PROTOCOLS)}"
                )
            return value
    return HTTP_PROTOBUF


def has_endpoint(signal: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether an OTLP endpoint is configured for this signal."""
    environ = os.environ if environ is None else environ
    return bool(
        _get(environ, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        or _get(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether OTEL_SDK_DISABLED turns OpenTelemetry off."""
    environ = os.environ if environ is None else environ
    return _get(environ, "OTEL_SDK_DISABLED").lower() == "true"


def exported_signals(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The signals to export over OTLP, each with its protocol; raises on a bad value.

    Every variable is checked, also of a signal that is not exported: a typo must
    not wait for the day someone turns that signal on.
    """
    environ = os.environ if environ is None else environ
    if sdk_disabled(environ):
        return {}
    chosen = {signal: (exporter(signal, environ), protocol(signal, environ)) for signal in SIGNALS}
    return {
        signal: wire
        for signal, (selected, wire) in chosen.items()
        if selected == "otlp" and has_endpoint(signal, environ)
    }


def configuration_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """One line naming the first OTEL_* value tasks-api refuses, or None."""
    try:
        exported_signals(environ)
    except TelemetryConfigError as error:
        return str(error)
    return None
