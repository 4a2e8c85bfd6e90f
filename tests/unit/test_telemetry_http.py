"""Prometheus request metrics in process (default registry): templates, exact codes, exclusions."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from prometheus_client import REGISTRY
from starlette.routing import Route

from service.app import create_app
from service.config import Settings
from service.domains import API_PREFIX, discover_routers
from service.state import app_state
from service.telemetry.http import SLI_ERROR_STATUSES, initialise_request_series
from tests.support.apps import asgi_client


def requests_total(**labels: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def all_handlers() -> set[str]:
    return {
        sample.labels["handler"]
        for family in REGISTRY.collect()
        if family.name == "http_requests"
        for sample in family.samples
    }


def total_of_all_requests() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
    )


async def test_requests_are_counted_by_route_template_and_exact_status(
    client: httpx.AsyncClient,
) -> None:
    labels = {"method": "GET", "handler": "/api/v1/tasks/{task_id}", "status": "401"}
    before = requests_total(**labels)
    duration_before = REGISTRY.get_sample_value(
        "http_request_duration_seconds_count",
        {"method": "GET", "handler": "/api/v1/tasks/{task_id}"},
    )
    for _ in range(2):
        response = await client.get(f"/api/v1/tasks/{uuid.uuid4()}")
        assert response.status_code == 401
    assert requests_total(**labels) == before + 2
    duration_after = REGISTRY.get_sample_value(
        "http_request_duration_seconds_count",
        {"method": "GET", "handler": "/api/v1/tasks/{task_id}"},
    )
    assert duration_after == (duration_before or 0) + 2
    assert requests_total(method="GET", handler="/api/v1/tasks/{task_id}", status="4xx") == 0


async def test_paths_matching_no_route_are_not_recorded(client: httpx.AsyncClient) -> None:
    path = f"/no/such/{uuid.uuid4().hex}"
    before = total_of_all_requests()
    response = await client.get(path)
    assert response.status_code == 404
    assert total_of_all_requests() == before
    assert path not in all_handlers()
    assert "none" not in all_handlers()


async def test_probes_are_not_recorded(client: httpx.AsyncClient) -> None:
    before = total_of_all_requests()
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post("/healthz")).status_code == 405
    assert total_of_all_requests() == before
    assert all_handlers().isdisjoint({"/healthz", "/readyz"})


async def test_readiness_gauge_follows_the_probe(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert (await client.get("/readyz")).status_code == 200
    assert REGISTRY.get_sample_value("tasks_api_readiness") == 1
    set_ready = app_state(app).on_readiness
    assert set_ready is not None
    set_ready(False)
    assert REGISTRY.get_sample_value("tasks_api_readiness") == 0
    assert (await client.get("/readyz")).status_code == 200
    assert REGISTRY.get_sample_value("tasks_api_readiness") == 1


async def test_many_apps_in_one_process_share_the_metric_objects(settings: Settings) -> None:
    apps = [create_app(settings) for _ in range(3)]
    before = requests_total(method="GET", handler="/test/ping", status="200")
    for app in apps:

        @app.get("/test/ping")
        async def ping() -> dict[str, str]:
            return {"pong": "yes"}

        async with asgi_client(app) as http:
            assert (await http.get("/test/ping")).status_code == 200
    assert requests_total(method="GET", handler="/test/ping", status="200") == before + 3


def test_every_api_routes_error_series_exist_at_zero_from_the_start(settings: Settings) -> None:
    create_app(settings)
    routes = [
        (method, f"{API_PREFIX}{route.path}")
        for router in discover_routers()
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    ]
    assert len(routes) > 5, routes
    for method, handler in routes:
        for status in SLI_ERROR_STATUSES:
            labels = {"method": method, "handler": handler, "status": status}
            assert REGISTRY.get_sample_value("http_requests_total", labels) is not None, labels
        count = REGISTRY.get_sample_value(
            "http_request_duration_seconds_count", {"method": method, "handler": handler}
        )
        assert count is not None, (method, handler)


def test_probes_and_the_metrics_path_get_no_series_at_start(settings: Settings) -> None:
    create_app(settings)
    # The registry is the process's: other tests' requests made their own series.
    assert not {"/healthz", "/readyz", "/metrics"} & all_handlers()


def test_series_at_start_follow_the_routers_given_and_only_their_api_routes() -> None:
    router = APIRouter()

    @router.get("/typed")
    async def typed() -> dict[str, str]:
        return {"typed": "yes"}

    router.routes.append(Route("/plain", endpoint=typed))
    initialise_request_series([router], "/series-test")
    handlers = all_handlers()
    assert "/series-test/typed" in handlers
    assert "/series-test/plain" not in handlers, "only API routes are initialised"
    assert not {handler for handler in handlers if handler.startswith("/plain")}
