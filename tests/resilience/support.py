"""Helpers of the resilience tests: service settings, metrics, a proxy."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import URL

from tests.support.apps import TEST_JWT_SECRET
from tests.support.databases import url_string
from tests.support.proxy import TcpProxy

# Small bounds, so that every failure mode shows up in seconds.
POOL_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
STATEMENT_TIMEOUT_MS = 500
# asyncpg's client-side bound, as service/db/engine.py derives it from the statement timeout.
COMMAND_TIMEOUT_SECONDS = STATEMENT_TIMEOUT_MS / 1000 + 1
DRAIN_DELAY_SECONDS = 1.0
GRACEFUL_TIMEOUT_SECONDS = 5.0
WORKERS = 2
PROBLEM_JSON = "application/problem+json"


def resilience_settings(database_url: URL, **overrides: str) -> dict[str, str]:
    """Settings of a service under test: small timeouts, two workers, no telemetry export."""
    env = {
        "ENVIRONMENT": "development",
        "DATABASE_URL": url_string(database_url),
        "JWT_SECRET": TEST_JWT_SECRET,
        "WEB_CONCURRENCY": str(WORKERS),
        "DB_POOL_SIZE": "5",
        "DB_MAX_OVERFLOW": "5",
        "DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS),
        "DB_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT_SECONDS),
        "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "DRAIN_DELAY_SECONDS": str(DRAIN_DELAY_SECONDS),
        "GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_TIMEOUT_SECONDS),
        "OTEL_SDK_DISABLED": "true",
        "LOG_LEVEL": "INFO",
        # These tests hold more requests in flight than the small pool has connections
        # (pool waits, outages, drains, bursts) on purpose; shedding has tests of its own
        # (tests/integration/test_in_flight_limit.py).
        "MAX_IN_FLIGHT": "1000",
    }
    env.update(overrides)
    return env


def through(proxy: TcpProxy, url: URL) -> URL:
    """The same database URL, reached through the proxy."""
    return url.set(host="127.0.0.1", port=proxy.port)


def metric_total(exposition: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of the samples of one metric in a Prometheus text exposition, label-filtered."""
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if labels and not all(f'{key}="{val}"' in label_text for key, val in labels.items()):
            continue
        total += float(value)
    return total
