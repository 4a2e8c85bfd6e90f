"""What a running drill does to requests: marked, counted, and in the SLI like a real answer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.integration.drills.conftest import OPERATOR, injected, requests_counted, start_drill

ME = "/api/v1/users/me"


async def test_an_error_drill_answers_marked_5xx_that_count_in_the_sli(
    http: httpx.AsyncClient,
) -> None:
    drill = (await start_drill(http, kind="error", duration_seconds=60, status=503)).json()
    before = (injected("error"), requests_counted(ME, "503"))

    response = await http.get(ME, headers={"X-Request-ID": "drill-check-1"})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-drill"] == f"error={drill['id']}"
    problem = response.json()
    assert problem["code"] == "drill_injected"
    assert drill["id"] in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"] == "drill-check-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert (injected("error"), requests_counted(ME, "503")) == (before[0] + 1, before[1] + 1)


async def test_requests_outside_the_api_routes_are_never_drilled(http: httpx.AsyncClient) -> None:
    await start_drill(http, kind="error", duration_seconds=60)
    await start_drill(http, kind="latency", duration_seconds=60, latency_seconds=0.5)
    before = (injected("error"), injected("latency"))
    started = time.monotonic()
    answers = [
        await http.get("/healthz"),
        await http.get("/readyz"),
        await http.get("/drills", headers=OPERATOR),
        await http.get(f"/api/v1/no/such/{uuid.uuid4().hex}"),
        await http.get("/openapi.json"),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 404, 200]
    assert all("x-drill" not in answer.headers for answer in answers)
    assert time.monotonic() - started < 0.5 * len(answers), "no added latency"
    assert (injected("error"), injected("latency")) == before


async def test_an_injected_failure_changes_nothing(http: httpx.AsyncClient) -> None:
    drill = (await start_drill(http, kind="error", duration_seconds=60)).json()
    credentials = {"email": f"drill-{uuid.uuid4().hex[:10]}@example.com", "password": "p" * 14}
    failed = await http.post("/api/v1/users", json=credentials)
    assert failed.status_code == 500
    assert failed.headers["x-drill"] == drill["marker"]
    await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    # The injected answer came before the app ran: the user was never created.
    assert (await http.post("/api/v1/users", json=credentials)).status_code == 201


async def test_a_latency_drill_delays_the_real_answer_past_the_slo_threshold(
    http: httpx.AsyncClient,
) -> None:
    drill = (
        await start_drill(http, kind="latency", duration_seconds=60, latency_seconds=0.3)
    ).json()
    labels = {"method": "GET", "handler": ME}
    fast_before = REGISTRY.get_sample_value(
        "http_request_duration_seconds_bucket", {**labels, "le": "0.25"}
    )
    count_before = REGISTRY.get_sample_value("http_request_duration_seconds_count", labels)
    latency_before = injected("latency")

    started = time.monotonic()
    response = await http.get(ME)
    elapsed = time.monotonic() - started

    assert response.status_code == 401, "the app's own answer, only later"
    assert response.json()["code"] != "drill_injected"
    assert response.headers["x-drill"] == f"latency={drill['id']}"
    assert elapsed >= 0.3
    assert injected("latency") == latency_before + 1
    assert (
        REGISTRY.get_sample_value("http_request_duration_seconds_count", labels)
        == (count_before or 0) + 1
    )
    assert REGISTRY.get_sample_value(
        "http_request_duration_seconds_bucket", {**labels, "le": "0.25"}
    ) == (fast_before or 0), "slow for the latency SLI"


async def test_latency_and_error_drills_combine_and_both_are_named(
    http: httpx.AsyncClient,
) -> None:
    delay = (
        await start_drill(http, kind="latency", duration_seconds=60, latency_seconds=0.05)
    ).json()
    error = (await start_drill(http, kind="error", duration_seconds=60, status=502)).json()
    response = await http.get(ME)
    assert response.status_code == 502
    assert response.headers["x-drill"] == f"latency={delay['id']}, error={error['id']}"


async def test_a_readiness_drill_fails_readyz_and_the_readiness_gauge_only(
    http: httpx.AsyncClient,
) -> None:
    drill = (await start_drill(http, kind="readiness", duration_seconds=60)).json()
    before = injected("readiness")

    probe = await http.get("/readyz")
    api = await http.get(ME)

    assert probe.status_code == 503
    assert probe.headers["x-drill"] == f"readiness={drill['id']}"
    assert probe.json()["code"] == "not_ready"
    assert probe.json()["checks"] == {"drill": "failing"}
    assert REGISTRY.get_sample_value("tasks_api_readiness") == 0
    assert injected("readiness") == before + 1
    assert api.status_code == 401
    assert "x-drill" not in api.headers

    await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    assert (await http.get("/readyz")).status_code == 200
    assert REGISTRY.get_sample_value("tasks_api_readiness") == 1


async def test_a_fraction_hits_that_share_and_the_counter_counts_each_hit(
    http: httpx.AsyncClient,
) -> None:
    await start_drill(http, kind="error", duration_seconds=60, fraction=0.3)
    before = (injected("error"), requests_counted(ME, "500"), requests_counted(ME, "401"))
    answers = [await http.get(ME) for _ in range(200)]
    marked = [answer for answer in answers if "x-drill" in answer.headers]
    # 60 expected; the bounds are 4.6 standard deviations away.
    assert 30 <= len(marked) <= 90, len(marked)
    assert all(answer.status_code == 500 for answer in marked)
    assert all(answer.status_code == 401 for answer in answers if answer not in marked)
    assert injected("error") - before[0] == len(marked)
    assert requests_counted(ME, "500") - before[1] == len(marked)
    assert requests_counted(ME, "401") - before[2] == 200 - len(marked)


async def test_an_expired_drill_stops_injecting_on_its_own(http: httpx.AsyncClient) -> None:
    await start_drill(http, kind="error", duration_seconds=1)
    assert (await http.get(ME)).status_code == 500
    await asyncio.sleep(1.1)
    response = await http.get(ME)
    assert response.status_code == 401
    assert "x-drill" not in response.headers


async def test_the_access_line_of_an_injected_answer_names_the_drill(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    drill = (await start_drill(http, kind="error", duration_seconds=60, fraction=1)).json()
    capfd.readouterr()
    await http.get(ME)
    await http.get("/healthz")
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line[:1] == "{"]
    access = {line["route"]: line for line in lines if line.get("logger") == "service.access"}
    assert access[ME]["drill"] == f"error={drill['id']}"
    assert access[ME]["status"] == 500
    assert "drill" not in access.get("/healthz", {})


async def test_a_failed_readiness_check_is_logged_as_the_drills(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    drill = (await start_drill(http, kind="readiness", duration_seconds=60)).json()
    capfd.readouterr()
    assert (await http.get("/readyz")).status_code == 503
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line[:1] == "{"]
    (warning,) = [line for line in lines if line.get("event") == "readiness_failed_by_drill"]
    assert warning["level"] == "warning"
    assert warning["drill"] == drill["marker"]
