"""A live drill: a real Prometheus with the project's rules watches a drill on a real service.

tasks-api serves with two workers on PostgreSQL, DRILLS_ENABLED in staging.
An operator starts an error drill through one worker; every worker injects
5xx answers into half of the API requests. Prometheus then shows the
availability SLI's numerator (its `bad` series in observability/slo/slos.yaml)
grown by exactly the injected answers, as many as the drill counter counts,
and the dashboard's error panels above 0. After the drill is stopped the
answers are the real ones again and the error panels return to 0. A
readiness drill fails every worker's /readyz and ends on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.engine import URL

from service.telemetry.http import SLI_ERROR_STATUSES
from tests.observability.live.processes import counter_by_pid, wait_for
from tests.observability.live.prometheus_server import PrometheusServer, running_prometheus
from tests.observability.live.traffic import Traffic, sign_in
from tests.observability.paths import DASHBOARDS_DIR, OBSERVABILITY, RULES_DIR
from tests.observability.promql import (
    LIVE_VARIABLES,
    iter_panels,
    load_dashboard,
    substitute_variables,
)
from tests.support.databases import url_string
from tests.support.processes import children_of
from tests.support.server import ServiceProcess, running_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DRILLS_TOKEN = "live-drill-operator-token-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {DRILLS_TOKEN}"}
JOB = 'job="tasks-api"'
ME = "/api/v1/users/me"


def _availability_bad() -> str:
    """The availability SLI's numerator, as the SLO spec defines it, for this job."""
    spec = yaml.safe_load((OBSERVABILITY / "slo" / "slos.yaml").read_text())
    (availability,) = [slo for slo in spec["slos"] if slo["name"] == "availability"]
    series: str = availability["bad"]
    return f"sum({series.replace('{', '{' + JOB + ', ', 1)}) or vector(0)"


BAD = _availability_bad()
DRILL_ERRORS = f'sum(tasks_api_drill_injected_total{{{JOB}, kind="error"}}) or vector(0)'
# API requests only: the operator's own calls to /drills are counted too, outside the SLI.
TOTAL = f'sum(http_requests_total{{{JOB}, handler=~"/api/.*"}}) or vector(0)'


@dataclass
class Drilled:
    """The service, its multiprocess directory, Prometheus, and a signed-in user."""

    service: ServiceProcess
    metrics_dir: Path
    prometheus: PrometheusServer
    traffic: Traffic
    auth: dict[str, str]


@pytest.fixture(scope="module")
def drilled(
    migrated_database: URL, prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Drilled]:
    """Two workers on PostgreSQL with drills enabled, scraped every second by Prometheus."""
    metrics_dir = tmp_path_factory.mktemp("drill-metrics")
    env = {
        "DATABASE_URL": url_string(migrated_database),
        "ENVIRONMENT": "staging",
        "JWT_SECRET": "live-drill-jwt-secret-that-is-long-enough-0123",
        "WEB_CONCURRENCY": "2",
        "DRILLS_ENABLED": "true",
        "DRILLS_TOKEN": DRILLS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DRAIN_DELAY_SECONDS": "0.2",
    }
    with running_service(env, cwd=tmp_path_factory.mktemp("drilled")) as service:
        wait_for(lambda: len(children_of(service.process.pid)) == 2, 15, "two workers")
        target = f"127.0.0.1:{service.metrics_port}"
        rules = [str(RULES_DIR / "*.yaml")]
        with (
            running_prometheus(
                prometheus_binary, tmp_path_factory.mktemp("prometheus"), target, rules
            ) as prometheus,
            httpx.Client(base_url=service.base_url, timeout=10) as client,
        ):
            traffic = Traffic(client)
            auth = sign_in(traffic)
            yield Drilled(service, metrics_dir, prometheus, traffic, auth)


def _value(drilled: Drilled, expr: str) -> float:
    value = drilled.prometheus.value(expr)
    assert value is not None, expr
    return value


def _until(drilled: Drilled, expr: str, wanted: float, timeout: float = 20) -> float:
    """The expression's value once it equals `wanted` (or the last one seen)."""
    deadline = time.monotonic() + timeout
    seen = _value(drilled, expr)
    while seen != wanted and time.monotonic() < deadline:
        time.sleep(0.25)
        seen = _value(drilled, expr)
    return seen


def _panel_expr(title: str, rate_interval: str = "1m") -> str:
    dashboards = [load_dashboard(path) for path in sorted(DASHBOARDS_DIR.glob("*.json"))]
    (panel,) = [p for d in dashboards for p in iter_panels(d) if p.get("title") == title]
    variables = {**LIVE_VARIABLES, "__rate_interval": rate_interval}
    return substitute_variables(str(panel["targets"][0]["expr"]), variables)


def _panel_values(drilled: Drilled, title: str, rate_interval: str = "1m") -> list[float]:
    samples = drilled.prometheus.query(_panel_expr(title, rate_interval))
    return [float(sample["value"][1]) for sample in samples]


def _status_rate(drilled: Drilled, status: str) -> float:
    samples = drilled.prometheus.query(_panel_expr("Status codes"))
    return sum(float(s["value"][1]) for s in samples if s["metric"].get("status") == status)


def _eventually(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def _round(drilled: Drilled, count: int) -> list[httpx.Response]:
    """Counted API requests, each on a new connection (so both workers get some)."""
    answers = []
    for _ in range(count):
        with httpx.Client(base_url=drilled.service.base_url, timeout=10) as client:
            answers.append(client.get(ME, headers=drilled.auth))
        drilled.traffic.counted[("GET", ME, str(answers[-1].status_code))] += 1
    # Scraped before the next round: rate() needs the increases to come in steps.
    assert _until(drilled, TOTAL, drilled.traffic.total) == drilled.traffic.total
    return answers


def _injecting_workers(drilled: Drilled) -> set[int]:
    per_pid = counter_by_pid(
        drilled.metrics_dir, "tasks_api_drill_injected_total", {"kind": "error"}
    )
    return {pid for pid, value in per_pid.items() if value > 0}


def test_the_error_series_exist_at_zero_before_the_first_error(drilled: Drilled) -> None:
    _round(drilled, 4)
    for status in SLI_ERROR_STATUSES:
        selector = f'{JOB}, method="GET", handler="{ME}", status="{status}"'
        samples = drilled.prometheus.query(f"http_requests_total{{{selector}}}")
        assert [float(sample["value"][1]) for sample in samples] == [0.0], (status, samples)
    # So the SLI's rate is a real 0 (not empty) once two scrapes have the series.
    rate = f'sum(rate(http_requests_total{{{JOB}, handler="{ME}", status=~"5.."}}[1m]))'
    assert _eventually(lambda: drilled.prometheus.value(rate) == 0), rate
    assert not drilled.prometheus.query(
        f'http_requests_total{{{JOB}, handler=~"/healthz|/readyz|/metrics"}}'
    ), "probes and /metrics stay unobserved"


def test_an_error_drill_moves_the_sli_numerator_by_exactly_the_injected_answers(
    drilled: Drilled,
) -> None:
    _round(drilled, 10)
    assert _value(drilled, BAD) == 0, "a healthy service before the drill"
    assert _value(drilled, DRILL_ERRORS) == 0

    started = drilled.traffic.client.post(
        "/drills",
        json={"kind": "error", "fraction": 0.5, "duration_seconds": 600},
        headers=OPERATOR,
    )
    assert started.status_code == 201, started.text
    drill = started.json()
    time.sleep(1.5)  # every worker re-reads the pod's drills within a second

    injected = during = 0
    workers = children_of(drilled.service.process.pid)
    # Rounds scraped one by one, until every worker has injected: the 500 series
    # exist at zero from the start, so rate() sees every round's increase.
    for round_number in range(10):
        for answer in _round(drilled, 20):
            during += 1
            if "x-drill" in answer.headers:
                assert answer.headers["x-drill"] == drill["marker"]
                assert answer.status_code == 500
                assert answer.json()["code"] == "drill_injected"
                injected += 1
            else:
                assert answer.status_code == 200, answer.text
        if round_number >= 1 and _injecting_workers(drilled) >= workers:
            break
    assert _injecting_workers(drilled) >= workers, "the drill reached every worker"
    stopped = drilled.traffic.client.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    assert stopped.status_code == 204

    assert 0 < injected < during, "a fraction of the requests, not all"
    assert _until(drilled, BAD, injected) == injected, "the SLI's numerator, exactly"
    assert _value(drilled, DRILL_ERRORS) == injected, "the drill counter, exactly"
    assert _value(drilled, f"({BAD}) - ({DRILL_ERRORS})") == 0, "no real error"
    assert _value(drilled, TOTAL) == drilled.traffic.total
    for title in ("API 5xx ratio", "5xx ratio by route"):
        assert _eventually(lambda: max(_panel_values(drilled, title), default=0) > 0), title  # noqa: B023
    assert _eventually(lambda: _status_rate(drilled, "500") > 0), "Status codes shows the 500s"
    sli = f'slo:sli_error:ratio_rate5m{{{JOB}, slo="availability"}}'
    assert _eventually(lambda: (drilled.prometheus.value(sli) or 0) > 0), "the recorded SLI"


def test_after_the_drill_answers_and_error_panels_return_to_normal(drilled: Drilled) -> None:
    bad_after_drill = _value(drilled, BAD)
    assert bad_after_drill > 0, "the drill of the previous test"
    time.sleep(1.5)
    started = time.monotonic()
    while time.monotonic() - started < 12:  # longer than the 10 s rate window below
        answers = _round(drilled, 5)
        assert all(answer.status_code == 200 for answer in answers)
        assert not [answer for answer in answers if "x-drill" in answer.headers]
    assert _value(drilled, BAD) == bad_after_drill, "no 5xx since the drill ended"
    (ratio,) = _panel_values(drilled, "API 5xx ratio", rate_interval="10s")
    assert ratio == 0
    by_route = {
        (s["metric"]["method"], s["metric"]["handler"]): float(s["value"][1])
        for s in drilled.prometheus.query(_panel_expr("5xx ratio by route", "10s"))
    }
    assert by_route[("GET", ME)] == 0, "the drilled route is healthy again"
    # Routes without a request in the window have no ratio (no traffic), never above 0.
    assert not [route for route, value in by_route.items() if value > 0], by_route
    running = drilled.traffic.client.get("/drills", headers=OPERATOR)
    assert running.json() == {"drills": []}


def test_a_readiness_drill_fails_every_workers_probe_and_ends_on_its_own(
    drilled: Drilled,
) -> None:
    started = drilled.traffic.client.post(
        "/drills", json={"kind": "readiness", "duration_seconds": 4}, headers=OPERATOR
    )
    assert started.status_code == 201, started.text
    drill = started.json()
    time.sleep(1.5)
    probes = [httpx.get(f"{drilled.service.base_url}/readyz") for _ in range(10)]
    assert {probe.status_code for probe in probes} == {503}
    assert {probe.headers.get("x-drill") for probe in probes} == {drill["marker"]}
    assert _until(drilled, f"min(tasks_api_readiness{{{JOB}}})", 0) == 0
    readiness_injected = f'sum(tasks_api_drill_injected_total{{{JOB}, kind="readiness"}})'
    assert _eventually(lambda: _value(drilled, readiness_injected) >= len(probes))

    time.sleep(max(0.0, datetime.fromisoformat(drill["ends_at"]).timestamp() - time.time()))

    def ready_everywhere() -> bool:
        # Each worker's gauge follows its own next probe: probe until both have answered one.
        answers = [httpx.get(f"{drilled.service.base_url}/readyz") for _ in range(5)]
        ready = all(answer.status_code == 200 for answer in answers)
        return ready and drilled.prometheus.value(f"min(tasks_api_readiness{{{JOB}}})") == 1

    assert _eventually(ready_everywhere), "readiness returns once the drill has expired"
    gone = drilled.traffic.client.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    assert gone.status_code == 404
    assert gone.json()["code"] == "drill_not_found"
