"""A real Prometheus scrapes a real tasks-api (two workers, PostgreSQL): every panel has data.

First on a healthy service (only 2xx answers, no error series exist at all),
then after traffic with 4xx and 5xx answers (the 5xx from a genuine database
outage): every PromQL expression of every dashboard panel and every recording
rule returns at least one series, the error-ratio panels read 0 and then more
than 0, and the request counter, summed over the workers, equals the number
of counted requests sent.

Panels on Tempo's span metrics are left out: Tempo cannot run here, so
nothing produces those series (tests/observability/test_dashboard.py checks
them statically).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from service.telemetry.http import SHED_HANDLER
from tests.observability.live.prometheus_server import PrometheusServer, running_prometheus
from tests.observability.live.traffic import Traffic, api_round, healthy_round, sign_in
from tests.observability.paths import DASHBOARDS_DIR, RULES_DIR
from tests.observability.promql import (
    dashboard_queries,
    iter_panels,
    load_dashboard,
    recording_rule_exprs,
    substitute_variables,
)
from tests.support.proxy import Mode, TcpProxy
from tests.support.server import ServiceProcess, running_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
JOB = 'job="tasks-api"'


@pytest.fixture(scope="module")
def service(proxied_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """tasks-api with two workers on PostgreSQL, through the proxy."""
    env = {
        "DATABASE_URL": proxied_url,
        "WEB_CONCURRENCY": "2",
        "DB_CONNECT_TIMEOUT_SECONDS": "1",
        "DB_POOL_TIMEOUT_SECONDS": "2",
        "DRAIN_DELAY_SECONDS": "0.2",
    }
    with running_service(env, cwd=tmp_path_factory.mktemp("served")) as served:
        yield served


@pytest.fixture(scope="module")
def prometheus(
    service: ServiceProcess, prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """Prometheus scraping the service's metrics port every second, with the bundle's rules."""
    rules = [str(RULES_DIR / "*.yaml")] if RULES_DIR.is_dir() else []
    target = f"127.0.0.1:{service.metrics_port}"
    with running_prometheus(
        prometheus_binary, tmp_path_factory.mktemp("prometheus"), target, rules
    ) as server:
        yield server


# Panels whose series come from Tempo's metrics generator, which cannot run here.
NOT_PRODUCED_HERE = "traces_spanmetrics_"
ERROR_RATIO_PANELS = ("API 5xx ratio", "5xx ratio by route", "4xx ratio by route")


def _all_queries() -> list[str]:
    queries = [
        query
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
        for query in dashboard_queries(path)
        if NOT_PRODUCED_HERE not in query
    ]
    if RULES_DIR.is_dir():
        queries += [expr for _, expr in recording_rule_exprs(RULES_DIR)]
    return queries


def _panel_query(title: str) -> str:
    dashboards = [load_dashboard(path) for path in sorted(DASHBOARDS_DIR.glob("*.json"))]
    (panel,) = [p for d in dashboards for p in iter_panels(d) if p.get("title") == title]
    return substitute_variables(str(panel["targets"][0]["expr"]))


def _values(prometheus: PrometheusServer, expr: str) -> list[float]:
    return [float(sample["value"][1]) for sample in prometheus.query(expr)]


def _scraped(prometheus: PrometheusServer, before: Counter[Any], traffic: Traffic) -> None:
    """Wait until Prometheus has scraped everything sent so far.

    A counter's first scrape is only its baseline (rate() cannot see the
    increase that created a series), so rounds of traffic are sent scrapes
    apart, as steady traffic is.
    """
    total = sum((before + traffic.counted).values())
    assert _wait_for_count(prometheus, total) == total


@pytest.fixture(scope="module")
def healthy_traffic(service: ServiceProcess, prometheus: PrometheusServer) -> Traffic:
    """Requests that all succeed, sent before any error, in rounds scraped one by one."""
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        traffic = Traffic(client)
        for _ in range(3):
            healthy_round(traffic)
            _scraped(prometheus, Counter(), traffic)
    return traffic


def _send_traffic(
    service: ServiceProcess, prometheus: PrometheusServer, proxy: TcpProxy, before: Traffic
) -> Traffic:
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        traffic = Traffic(client)
        # Twice, scraped in between: the second round makes the 4xx series' rates.
        api_round(traffic)
        _scraped(prometheus, before.counted, traffic)
        api_round(traffic)
        auth = sign_in(traffic)
        proxy.set_mode(Mode.REFUSE)
        try:
            # The first 503 creates the series; the later ones make its rate.
            traffic.call("GET", "/api/v1/tasks", "/api/v1/tasks", 503, headers=auth)
            _scraped(prometheus, before.counted, traffic)
            for _ in range(2):
                traffic.call("GET", "/api/v1/tasks", "/api/v1/tasks", 503, headers=auth)
        finally:
            proxy.set_mode(Mode.FORWARD)
        service.wait_ready(timeout=15)
    return traffic


def _ratios(
    prometheus: PrometheusServer, title: str, ok: Callable[[list[float]], bool]
) -> list[float]:
    """The values of an error-ratio panel, once ``ok`` holds or after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        values = _values(prometheus, _panel_query(title))
        if (values and ok(values)) or time.monotonic() > deadline:
            return values
        time.sleep(0.5)


def _wait_for_count(
    prometheus: PrometheusServer, expected: int, timeout: float = 20
) -> float | None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = prometheus.value(f"sum(http_requests_total{{{JOB}}})")
        if seen == expected:
            break
        time.sleep(0.25)
    return seen


def _empty_queries(prometheus: PrometheusServer, queries: list[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    empty = queries
    while True:
        empty = [query for query in empty if not prometheus.query(query)]
        if not empty or time.monotonic() > deadline:
            return empty
        time.sleep(0.5)


def test_every_panel_and_recording_rule_has_data_on_a_healthy_service(
    prometheus: PrometheusServer, healthy_traffic: Traffic
) -> None:
    queries = _all_queries()
    assert queries, f"no dashboard in {DASHBOARDS_DIR}"
    assert _wait_for_count(prometheus, healthy_traffic.total) == healthy_traffic.total
    answered = prometheus.query("http_requests_total > 0")
    statuses = {sample["metric"]["status"] for sample in answered}
    assert statuses <= {"200", "201", "204"}, "a healthy service answers no error"
    # The 5xx series exist from the start, at zero.
    assert prometheus.value(f'sum(http_requests_total{{{JOB}, status=~"5.."}})') == 0
    assert _empty_queries(prometheus, queries, timeout=30) == []
    for title in ERROR_RATIO_PANELS:
        values = _ratios(prometheus, title, lambda v: all(value == 0 for value in v))
        assert values and all(value == 0 for value in values), (title, values)


def test_every_panel_and_recording_rule_has_data_after_errors(
    service: ServiceProcess,
    prometheus: PrometheusServer,
    database_proxy: TcpProxy,
    healthy_traffic: Traffic,
) -> None:
    queries = _all_queries()
    traffic = _send_traffic(service, prometheus, database_proxy, healthy_traffic)
    sent: Counter[Any] = healthy_traffic.counted + traffic.counted
    total = sum(sent.values())

    assert _wait_for_count(prometheus, total) == total
    for (method, handler, status), count in sent.items():
        selector = f'{JOB}, method="{method}", handler="{handler}", status="{status}"'
        assert prometheus.value(f"sum(http_requests_total{{{selector}}})") == count, selector
    statuses = {sample["metric"]["status"] for sample in prometheus.query("http_requests_total")}
    assert {"200", "201", "204", "401", "404", "409", "422", "503"} <= statuses
    assert _empty_queries(prometheus, queries, timeout=30) == []
    for title in ERROR_RATIO_PANELS:
        values = _ratios(prometheus, title, lambda v: max(v) > 0)
        assert values and max(values) > 0, (title, values)


def test_probes_metrics_path_and_unknown_paths_make_no_series(
    service: ServiceProcess, prometheus: PrometheusServer
) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/no/such/path"):
        httpx.get(f"{service.base_url}{path}")
    time.sleep(2.5)  # two scrapes
    handlers = {sample["metric"]["handler"] for sample in prometheus.query("http_requests_total")}
    assert handlers, "API traffic of the previous test is scraped"
    assert handlers.isdisjoint({"/healthz", "/readyz", "/metrics", "/no/such/path", "none"})
    # Route templates of the API, and the one label of answers shed before routing.
    routed = handlers - {SHED_HANDLER}
    assert routed and all(handler.startswith("/api/v1/") for handler in routed), handlers


def test_business_counters_follow_the_domain_events(prometheus: PrometheusServer) -> None:
    # Three healthy rounds (three tasks) and two API rounds: one task, one
    # replay and one wrong password each.
    assert prometheus.value(f"sum(tasks_api_tasks_created_total{{{JOB}}})") == 5
    assert prometheus.value(f"sum(tasks_api_idempotent_replays_total{{{JOB}}})") == 2
    assert prometheus.value(f"sum(tasks_api_logins_failed_total{{{JOB}}})") == 2
    assert prometheus.value(f"min(tasks_api_readiness{{{JOB}}})") == 1
