"""MAX_IN_FLIGHT: API requests beyond the per-worker bound are shed at once; probes never are.

Functional, not timed: a real `tasks-api serve` (one worker, MAX_IN_FLIGHT=1) whose API
requests a latency drill holds for a while, so that one is in flight when the next
arrives. The shedding happens in the worker's HTTP protocol, before the application:
only a real server shows it.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.server.shedding import OVERLOAD_RETRY_AFTER_SECONDS
from service.telemetry.http import SHED_HANDLER
from tests.observability.paths import OBSERVABILITY
from tests.support.problems import PROBLEM_JSON
from tests.support.server import ServiceProcess, running_service

TOKEN = "in-flight-drill-operator-token-0123456789"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
ME = "/api/v1/users/me"
HELD_SECONDS = 2.0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One worker, one API request at a time, every API request held HELD_SECONDS."""
    env = {"MAX_IN_FLIGHT": "1", "DRILLS_ENABLED": "true", "DRILLS_TOKEN": TOKEN}
    with running_service(env, cwd=tmp_path_factory.mktemp("in-flight")) as running:
        drill = httpx.post(
            f"{running.base_url}/drills",
            json={"kind": "latency", "duration_seconds": 600, "latency_seconds": HELD_SECONDS},
            headers=OPERATOR,
        )
        assert drill.status_code == 201, drill.text
        deadline = time.monotonic() + 10
        while _timed_get(running, ME)[1] < HELD_SECONDS / 2:
            assert time.monotonic() < deadline, "the latency drill never applied"
        yield running


def _timed_get(service: ServiceProcess, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(f"{service.base_url}{path}", timeout=10)
    return response, time.monotonic() - started


def _while_one_is_held(service: ServiceProcess, *paths: str) -> list[tuple[httpx.Response, float]]:
    """GET each path (in order) while another API request holds the worker's one slot."""
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_timed_get, service, ME)
        time.sleep(HELD_SECONDS / 4)
        answers = [_timed_get(service, path) for path in paths]
        first, took = held.result()
    assert first.status_code == 401, first.text
    assert took >= HELD_SECONDS * 0.9
    return answers


def test_a_second_api_request_is_shed_at_once_while_probes_answer(
    service: ServiceProcess,
) -> None:
    (shed, shed_took), (ready, _), (live, _) = _while_one_is_held(
        service, ME, "/readyz", "/healthz"
    )
    assert shed.status_code == 503
    assert shed.headers["content-type"] == PROBLEM_JSON
    assert shed.headers["retry-after"] == str(OVERLOAD_RETRY_AFTER_SECONDS)
    assert shed.headers["cache-control"] == "no-store"
    problem = shed.json()
    assert problem["code"] == "overloaded"
    assert problem["retry_after"] == OVERLOAD_RETRY_AFTER_SECONDS
    assert problem["instance"] == ME
    assert problem["request_id"] == shed.headers["x-request-id"]
    assert shed_took < HELD_SECONDS / 2, "the shed answer waited for the held request"
    assert ready.status_code == 200
    assert live.status_code == 200


def _sample(service: ServiceProcess, series: str) -> float | None:
    text = httpx.get(service.metrics_url).text
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _shed_in_requests_total(service: ServiceProcess, method: str) -> float | None:
    labels = f'handler="{SHED_HANDLER}",method="{method}",status="503"'
    return _sample(service, f"http_requests_total{{{labels}}}")


def test_shed_answers_are_counted(service: ServiceProcess) -> None:
    before = _sample(service, "tasks_api_http_requests_shed_total") or 0.0
    _while_one_is_held(service, ME, "/api/v1/tasks")
    assert _sample(service, "tasks_api_http_requests_shed_total") == before + 2


def test_shed_answers_are_api_5xx_for_the_availability_sli(service: ServiceProcess) -> None:
    # The availability SLI's numerator selects handler=~"/api/.*", status=~"5.."; the
    # promtool scenario of the recording rules plays this label through the SLI.
    assert re.fullmatch("/api/.*", SHED_HANDLER)
    scenario = OBSERVABILITY / "prometheus" / "tests" / "slo-overload.test.yaml"
    assert f'handler="{SHED_HANDLER}"' in scenario.read_text()
    before = {method: _shed_in_requests_total(service, method) for method in ("GET", "POST")}
    assert before["POST"] is not None, "the series exist at zero before the first shed answer"
    ((shed, _),) = _while_one_is_held(service, ME)
    assert shed.status_code == 503
    assert _shed_in_requests_total(service, "GET") == (before["GET"] or 0.0) + 1
    assert _shed_in_requests_total(service, "POST") == before["POST"]


def test_shed_answers_of_unknown_methods_make_no_new_series(service: ServiceProcess) -> None:
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_timed_get, service, ME)
        time.sleep(HELD_SECONDS / 4)
        odd = httpx.request("PROPFIND", f"{service.base_url}{ME}", timeout=10)
        held.result()
    assert odd.status_code == 503
    assert _shed_in_requests_total(service, "PROPFIND") is None
    assert (_shed_in_requests_total(service, "OTHER") or 0.0) >= 1


def test_the_slot_is_given_back_after_the_answer(service: ServiceProcess) -> None:
    _while_one_is_held(service, ME)
    response, _ = _timed_get(service, ME)
    assert response.status_code == 401


def test_a_client_that_goes_away_gives_its_slot_back(service: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.sendall(f"GET {ME} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        time.sleep(HELD_SECONDS / 4)
    time.sleep(HELD_SECONDS)  # the abandoned request ends when its added latency does
    response, _ = _timed_get(service, ME)
    assert response.status_code == 401


def test_paths_outside_the_api_are_never_shed(service: ServiceProcess) -> None:
    answers = _while_one_is_held(service, "/readyz", "/healthz", "/drills", "/nothing")
    assert [answer.status_code for answer, _ in answers] == [200, 200, 401, 404]


def test_the_default_bound_is_the_pool_s_connections() -> None:
    assert Settings().in_flight_limit == 20
    assert Settings(db_pool_size=4, db_max_overflow=2).in_flight_limit == 6
    assert Settings(db_pool_size=1, db_max_overflow=0).in_flight_limit == 1
    assert Settings(db_pool_size=4, max_in_flight=50).in_flight_limit == 50


@pytest.mark.parametrize("value", [0, -1, 10_001])
def test_max_in_flight_out_of_bounds_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        Settings(max_in_flight=value)


def test_the_bound_adapts_to_the_loop_s_lag_unless_turned_off() -> None:
    assert Settings().shed_loop_lag_ms == 35
    assert Settings(shed_loop_lag_ms=0).shed_loop_lag_ms == 0
    for value in (-1, 10_001):
        with pytest.raises(ValueError, match="shed_loop_lag_ms"):
            Settings(shed_loop_lag_ms=value)


def test_without_the_drill_nothing_is_shed(tmp_path: Path) -> None:
    with running_service({"MAX_IN_FLIGHT": "1"}, cwd=tmp_path) as running:
        answers = [httpx.get(f"{running.base_url}{ME}") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [401] * 5


def test_shed_answers_do_not_count_towards_max_requests(tmp_path: Path) -> None:
    env = {
        "MAX_IN_FLIGHT": "1",
        "MAX_REQUESTS": "25",
        "MAX_REQUESTS_JITTER": "0",
        "DRILLS_ENABLED": "true",
        "DRILLS_TOKEN": TOKEN,
    }
    with running_service(env, cwd=tmp_path) as running:
        drill = httpx.post(
            f"{running.base_url}/drills",
            json={"kind": "latency", "duration_seconds": 600, "latency_seconds": HELD_SECONDS},
            headers=OPERATOR,
        )
        assert drill.status_code == 201, drill.text
        time.sleep(1.5)  # workers read the drills file about once a second
        # More shed answers than MAX_REQUESTS, over two held requests.
        answers = [
            *_while_one_is_held(running, *[ME] * 15),
            *_while_one_is_held(running, *[ME] * 15),
        ]
        boots = running.logs().count("Booting worker")
        assert [answer.status_code for answer, _ in answers].count(503) >= 26
        assert boots == 1, "the worker was recycled for answers it shed"
        assert "Maximum request limit" not in running.logs()
