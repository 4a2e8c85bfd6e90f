"""The Prometheus metrics of tasks-api, defined once per process.

Names and labels are fixed by the interface contract: the recording rules,
alerts and dashboards under observability/ read exactly these series (names
are written as exposed; prometheus_client keeps a counter's `_total` suffix).

Multiprocess mode: under gunicorn, PROMETHEUS_MULTIPROC_DIR is set before
prometheus_client is first imported (see service.server.serving), so every worker
writes its values to files there and the master's /metrics endpoint merges
them. Counters and histograms are summed over all processes, including
workers that have exited (nothing is lost when a worker is replaced); gauges
only count live workers (`live*` modes), because gunicorn's child_exit hook
deletes a dead worker's gauge files. Without the variable (in-process tests)
the same objects live in the default registry.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from service.version import VERSION

# The contract's latency buckets; 0.25 s is the latency SLO threshold.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
POOL_WAIT_BUCKETS: Final = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DB_OPERATIONS: Final = ("SELECT", "INSERT", "UPDATE", "DELETE", "OTHER")
EXPORT_SIGNALS: Final = ("traces", "metrics")
SECURITY_EVENTS: Final = (
    "login_failed",
    "lockout",
    "refresh_reuse",
    "tokens_revoked",
    "revoked_token_used",
    "registration_limited",
)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and exact status code.",
    ("method", "status", "handler"),
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by method and route template.",
    ("method", "handler"),
    buckets=HTTP_BUCKETS,
)
HTTP_REQUESTS_SHED = Counter(
    "tasks_api_http_requests_shed",
    "API requests answered 503 + Retry-After at once: the worker's in-flight bound was reached "
    "(answered before the application; also in http_requests_total with "
    'handler="/api/(shed before routing)").',
)
HTTP_IN_PROGRESS = Gauge(
    "http_requests_inprogress",
    "HTTP requests being served, by method and route template.",
    ("method", "handler"),
    multiprocess_mode="livesum",
)

DB_POOL_SIZE = Gauge(
    "tasks_api_db_pool_size",
    "Configured size of the database connection pool.",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_OUT = Gauge(
    "tasks_api_db_pool_checked_out",
    "Database connections currently checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "tasks_api_db_pool_overflow",
    "Database connections open beyond the pool size.",
    multiprocess_mode="livesum",
)
DB_POOL_MAX_OVERFLOW = Gauge(
    "tasks_api_db_pool_max_overflow",
    "Connections the pool may open beyond its size when all pooled ones are checked out.",
    multiprocess_mode="livesum",
)
# Per worker, the worst one wins: summing over workers would hide one exhausted
# worker among idle ones, and each worker has a pool of its own.
DB_POOL_SATURATION = Gauge(
    "tasks_api_db_pool_saturation_ratio",
    "Checked-out connections over pool size plus max overflow, of the most saturated live worker.",
    multiprocess_mode="livemax",
)
DB_POOL_WAIT = Histogram(
    "tasks_api_db_pool_wait_seconds",
    "Time to obtain a connection from the pool (waiting, connecting, pre-ping).",
    buckets=POOL_WAIT_BUCKETS,
)
DB_QUERY_DURATION = Histogram(
    "tasks_api_db_query_duration_seconds",
    "Database statement duration by operation.",
    ("operation",),
    buckets=DB_BUCKETS,
)

TASKS_CREATED = Counter(
    "tasks_api_tasks_created_total", "Tasks created (idempotent replays excluded)."
)
LOGINS_FAILED = Counter("tasks_api_logins_failed_total", "Failed login attempts.")
# One series per kind of security event; each also writes a `security.<event>` log line.
SECURITY_EVENTS_TOTAL = Counter(
    "tasks_api_security_events_total",
    "Security events (failed logins, lockouts, refresh-token reuse, revocations) by event.",
    ("event",),
)
IDEMPOTENT_REPLAYS = Counter(
    "tasks_api_idempotent_replays_total",
    "POST requests answered from a stored idempotent response.",
)

READINESS = Gauge(
    "tasks_api_readiness",
    "1 when the last readiness check passed, 0 otherwise (minimum over live workers).",
    multiprocess_mode="livemin",
)
SCHEMA_STATE = Gauge(
    "tasks_api_schema_state",
    "1 for the state of the database schema relative to this build's migrations at the last "
    "readiness check (at_head, ahead, behind, unknown), 0 for the others.",
    ("state",),
    multiprocess_mode="livemax",
)
SCHEMA_STATES: Final = ("at_head", "ahead", "behind", "unknown")
BUILD_INFO = Gauge(
    "tasks_api_build_info",
    "Always 1; the version label names the running build.",
    ("version",),
    multiprocess_mode="livemax",
)
IN_FLIGHT_BOUND = Gauge(
    "tasks_api_in_flight_bound",
    "API requests the most constrained live worker admits at once now: MAX_IN_FLIGHT, "
    "or less while its event loop lags (SHED_LOOP_LAG_MS).",
    multiprocess_mode="livemin",
)
EVENT_LOOP_LAG = Gauge(
    "tasks_api_event_loop_lag_seconds",
    "Largest delay of the event loop over the last 30 s, of the most delayed live worker.",
    multiprocess_mode="livemax",
)
OTEL_EXPORT_FAILURES = Counter(
    "tasks_api_otel_export_failures_total",
    "Spans or metric data points that an OTLP export failed to deliver.",
    ("signal",),
)

# Zero-valued series exist from the start, so rates and ratios are 0, not empty.
for _operation in DB_OPERATIONS:
    DB_QUERY_DURATION.labels(operation=_operation)
for _signal in EXPORT_SIGNALS:
    OTEL_EXPORT_FAILURES.labels(signal=_signal)
for _event in SECURITY_EVENTS:
    SECURITY_EVENTS_TOTAL.labels(event=_event)


def mark_process_serving() -> None:
    """Set what every serving process reports from its start.

    Called in the worker, never at import: the gunicorn master may import
    this module before it forks, and a value set there stays the master's.
    """
    BUILD_INFO.labels(version=VERSION).set(1)


def set_readiness(ready: bool) -> None:
    """Record this worker's latest readiness verdict."""
    READINESS.set(1 if ready else 0)


def set_schema_state(state: str) -> None:
    """Record where the schema stood at this worker's latest readiness check."""
    for known in SCHEMA_STATES:
        SCHEMA_STATE.labels(state=known).set(1 if known == state else 0)


def count_export_failures(signal: str, items: int) -> None:
    """Count spans or data points that an OTLP export failed to deliver."""
    if items > 0:
        OTEL_EXPORT_FAILURES.labels(signal=signal).inc(items)
