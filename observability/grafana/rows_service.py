"""Service rows of the tasks-api dashboard: overview, RED per route, latency, saturation."""

from __future__ import annotations

from dashboard_model import (
    API,
    CLIENT_ERRORS,
    SEL,
    SERVER_ERRORS,
    WITHIN_SLO,
    Panel,
    Row,
    Target,
    quantile,
    rate,
    ratio,
)


def overview_row() -> Row:
    """Return the at-a-glance stat row."""
    return Row(
        "Overview",
        (
            Panel(
                "API request rate",
                "API requests per second over all routes (probes and /metrics excluded).",
                "reqps",
                (Target(f"sum({rate('http_requests_total', API)})", "requests/s"),),
                kind="stat",
                width=4,
                height=4,
            ),
            Panel(
                "API 5xx ratio",
                "Share of API requests answered with a 5xx. The availability SLO allows 0.1 %.",
                "percentunit",
                (
                    Target(
                        ratio(
                            f"sum({rate('http_requests_total', API + SERVER_ERRORS)})",
                            f"sum({rate('http_requests_total', API)})",
                        ),
                        "5xx ratio",
                    ),
                ),
                kind="stat",
                width=4,
                height=4,
                thresholds=((None, "green"), (0.001, "yellow"), (0.05, "red")),
            ),
            Panel(
                "API p99 latency",
                "99th percentile duration of API requests. The latency SLO threshold is 0.25 s.",
                "s",
                (Target(quantile(0.99, "http_request_duration_seconds", "", API), "p99"),),
                kind="stat",
                width=4,
                height=4,
                thresholds=((None, "green"), (0.25, "yellow"), (0.5, "red")),
            ),
            Panel(
                "Ready instances",
                "Instances whose /readyz passes (tasks_api_readiness = 1).",
                "short",
                (Target(f"sum(tasks_api_readiness{{{SEL}}})", "ready"),),
                kind="stat",
                width=4,
                height=4,
                thresholds=((None, "red"), (1, "green")),
            ),
            Panel(
                "Scrape targets up",
                "Targets whose /metrics scrape succeeds (up = 1).",
                "short",
                (Target(f"sum(up{{{SEL}}})", "up"),),
                kind="stat",
                width=4,
                height=4,
                thresholds=((None, "red"), (1, "green")),
            ),
            Panel(
                "Version",
                "Running versions (tasks_api_build_info) and how many instances run each.",
                "short",
                (
                    Target(
                        f"count by (version) (tasks_api_build_info{{{SEL}}})",
                        "{{version}}",
                        instant=True,
                    ),
                ),
                kind="stat",
                width=4,
                height=4,
                extra={"textMode": "name"},
            ),
        ),
    )


def traffic_row() -> Row:
    """Return rate, errors and duration per route, and the status-code mix."""
    by_route = "method, handler"
    return Row(
        "Traffic (RED per route)",
        (
            Panel(
                "Request rate by route",
                "Requests per second per method and route template.",
                "reqps",
                (
                    Target(
                        f"sum by ({by_route}) ({rate('http_requests_total')})",
                        "{{method}} {{handler}}",
                    ),
                ),
            ),
            Panel(
                "5xx ratio by route",
                "Share of requests per route answered with a 5xx (server errors).",
                "percentunit",
                (
                    Target(
                        ratio(
                            f"sum by ({by_route}) "
                            f"({rate('http_requests_total', SEL + SERVER_ERRORS)})",
                            f"sum by ({by_route}) ({rate('http_requests_total')})",
                        ),
                        "{{method}} {{handler}}",
                    ),
                ),
            ),
            Panel(
                "4xx ratio by route",
                "Share of requests per route answered with a 4xx (client errors: "
                "validation, auth, not found). They do not spend the error budget.",
                "percentunit",
                (
                    Target(
                        ratio(
                            f"sum by ({by_route}) "
                            f"({rate('http_requests_total', SEL + CLIENT_ERRORS)})",
                            f"sum by ({by_route}) ({rate('http_requests_total')})",
                        ),
                        "{{method}} {{handler}}",
                    ),
                ),
            ),
            Panel(
                "Status codes",
                "Responses per second by exact status code, stacked.",
                "reqps",
                (Target(f"sum by (status) ({rate('http_requests_total')})", "{{status}}"),),
                width=12,
                stack=True,
            ),
            Panel(
                "p95 latency by route",
                "95th percentile request duration per method and route template.",
                "s",
                (
                    Target(
                        quantile(0.95, "http_request_duration_seconds", by_route),
                        "{{method}} {{handler}}",
                    ),
                ),
                width=12,
            ),
        ),
    )


def latency_row() -> Row:
    """Return API latency percentiles and the share of fast requests."""
    metric = "http_request_duration_seconds"
    return Row(
        "Latency",
        (
            Panel(
                "API latency percentiles",
                "p50, p95 and p99 duration of all API requests.",
                "s",
                tuple(
                    Target(quantile(q, metric, "", API), f"p{round(q * 100)}")
                    for q in (0.5, 0.95, 0.99)
                ),
            ),
            Panel(
                "Requests within 0.25 s",
                "Share of API requests that completed within the 0.25 s latency SLO "
                "threshold (objective: 99 %).",
                "percentunit",
                (
                    Target(
                        f"sum({rate(metric + '_bucket', API + WITHIN_SLO)})"
                        f" / sum({rate(metric + '_count', API)})",
                        "within 0.25 s",
                    ),
                ),
                thresholds=((None, "red"), (0.99, "green")),
            ),
            Panel(
                "Mean latency by route",
                "Average request duration per method and route template.",
                "s",
                (
                    Target(
                        f"sum by (method, handler) ({rate(metric + '_sum')})"
                        f" / sum by (method, handler) ({rate(metric + '_count')})",
                        "{{method}} {{handler}}",
                    ),
                ),
            ),
        ),
    )


def saturation_row() -> Row:
    """Return in-flight requests, database pool and process resources."""
    pool = "tasks_api_db_pool"
    return Row(
        "Saturation",
        (
            Panel(
                "Requests in progress",
                "Requests being served right now, per route, summed over workers.",
                "short",
                (
                    Target(
                        f"sum by (method, handler) (http_requests_inprogress{{{SEL}}})",
                        "{{method}} {{handler}}",
                    ),
                ),
            ),
            Panel(
                "DB connection pool",
                "Pool size, connections checked out, overflow connections and capacity "
                "(size plus max overflow) per pod, summed over workers.",
                "short",
                (
                    Target(f"sum by (pod) ({pool}_size{{{SEL}}})", "size {{pod}}"),
                    Target(
                        f"sum by (pod) ({pool}_checked_out{{{SEL}}})",
                        "checked out {{pod}}",
                    ),
                    Target(
                        f"sum by (pod) ({pool}_overflow{{{SEL}}})",
                        "overflow {{pod}}",
                    ),
                    Target(
                        f"sum by (pod) ({pool}_size{{{SEL}}})"
                        f" + sum by (pod) ({pool}_max_overflow{{{SEL}}})",
                        "capacity {{pod}}",
                    ),
                ),
            ),
            Panel(
                "DB pool saturation (worst worker)",
                "Checked-out connections over pool size plus max overflow, of the most "
                "saturated worker of each pod: each worker has a pool of its own, so one "
                "exhausted worker makes its requests wait while the others idle. "
                "TasksApiDatabasePoolSaturated fires at 90 %.",
                "percentunit",
                (Target(f"max by (pod) ({pool}_saturation_ratio{{{SEL}}})", "{{pod}}"),),
                thresholds=((None, "green"), (0.7, "yellow"), (0.9, "red")),
                extra={"thresholdsStyle": "line"},
            ),
            Panel(
                "DB pool wait time",
                "Time a request waits to get a pooled connection: p95 and mean. "
                "TasksApiDatabasePoolWaitSlow fires when many checkouts take over 0.1 s.",
                "s",
                (
                    Target(quantile(0.95, f"{pool}_wait_seconds", ""), "p95"),
                    Target(
                        f"sum({rate(pool + '_wait_seconds_sum')})"
                        f" / sum({rate(pool + '_wait_seconds_count')})",
                        "mean",
                    ),
                ),
            ),
            Panel(
                "Process CPU",
                "CPU used by the gunicorn master and its workers (exited ones included), in cores.",
                "short",
                (Target(f"sum by (pod) ({rate('process_cpu_seconds_total')})", "{{pod}}"),),
                width=8,
            ),
            Panel(
                "Process resident memory",
                "Resident memory of the master and its live workers, summed per pod.",
                "bytes",
                (Target(f"sum by (pod) (process_resident_memory_bytes{{{SEL}}})", "{{pod}}"),),
                width=8,
            ),
            Panel(
                "Event-loop lag",
                "Largest event-loop delay over the last 30 s, of the pod's most delayed worker: "
                "a worker whose loop is blocked serves nobody.",
                "s",
                (Target(f"max by (pod) (tasks_api_event_loop_lag_seconds{{{SEL}}})", "{{pod}}"),),
                width=8,
            ),
            Panel(
                "In-flight bound (most constrained worker)",
                "API requests the pod's most constrained worker admits at once: MAX_IN_FLIGHT, "
                "or less while its event loop lags more than SHED_LOOP_LAG_MS.",
                "short",
                (Target(f"min by (pod) (tasks_api_in_flight_bound{{{SEL}}})", "{{pod}}"),),
                width=8,
            ),
            Panel(
                "Shed API requests",
                "API requests answered 503 overloaded at once, before the application, because "
                "the worker's in-flight bound was reached.",
                "reqps",
                (
                    Target(
                        "sum by (pod) (rate(tasks_api_http_requests_shed_total"
                        f"{{{SEL}}}[$__rate_interval]))",
                        "{{pod}}",
                    ),
                ),
                width=8,
            ),
        ),
    )
