"""Telemetry: OpenTelemetry providers, Prometheus metrics, business events."""
