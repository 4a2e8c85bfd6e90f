"""The traced-latency row: Tempo's span metrics, whose buckets carry exemplars (trace ids).

The scraped histograms cannot carry exemplars (prometheus_client has none in
multiprocess mode), so every panel with exemplars reads the metrics that
Tempo's metrics generator derives from the traces it stores and remote-writes
to Prometheus: each exemplar opens a trace that Tempo has. Span metrics count
sampled traces only, so rates here are a fraction of the real traffic; the
latency distribution is what they are for. Tempo labels them with the
service.name (``service``, by default the scrape job's name) and, as configured
in tempo/tempo.yaml, the Kubernetes namespace and the HTTP route.
"""

from __future__ import annotations

from dashboard_model import RATE, Panel, Row, Target

# Span metrics carry resource attributes as labels, not the scrape labels.
TRACE_SEL = 'service=~"$job", k8s_namespace_name=~"$namespace"'
SERVER = f'{TRACE_SEL}, span_kind="SPAN_KIND_SERVER"'
CLIENT = f'{TRACE_SEL}, span_kind="SPAN_KIND_CLIENT"'
LATENCY = "traces_spanmetrics_latency_bucket"


def _quantile(q: float, matchers: str, by: str) -> str:
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({LATENCY}{{{matchers}}}{RATE})))"


def traces_row() -> Row:
    """Return traced latency per route and per statement, with exemplars."""
    return Row(
        "Latency of traced requests (exemplars open the trace)",
        (
            Panel(
                "Traced API latency percentiles",
                "p50, p95 and p99 of server spans (sampled requests), from Tempo's span "
                "metrics. Each dot is an exemplar: click it to open that request's trace.",
                "s",
                tuple(
                    Target(_quantile(q, SERVER, ""), f"p{round(q * 100)}", exemplar=True)
                    for q in (0.5, 0.95, 0.99)
                ),
            ),
            Panel(
                "Traced p95 latency by route",
                "95th percentile of server spans per span name (method and route "
                "template), with exemplars.",
                "s",
                (Target(_quantile(0.95, SERVER, "span_name"), "{{span_name}}", exemplar=True),),
            ),
            Panel(
                "Traced database statement p95",
                "95th percentile of the database client spans per span name, with "
                "exemplars: the slow statement's trace shows the request that ran it.",
                "s",
                (Target(_quantile(0.95, CLIENT, "span_name"), "{{span_name}}", exemplar=True),),
            ),
        ),
    )
