"""Request id, security headers, CORS, gzip and the request body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from service.config import Settings
from service.core.middleware import accept_request_id
from tests.support.apps import asgi_client, new_app, started
from tests.support.problems import assert_problem

LIMIT = 2048


@pytest.fixture(scope="module")
async def small_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with a low body limit, CORS for one origin, and test routes."""
    tuned = settings.model_copy(
        update={"request_body_limit_bytes": LIMIT, "cors_origins": ("https://ui.example",)}
    )
    app = new_app(tuned)

    @app.post("/test/size")
    async def size(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/test/big")
    async def big() -> dict[str, str]:
        return {"text": "x" * 5000}

    async with started(app):
        yield app


@pytest.fixture
async def http(small_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(small_app) as client:
        yield client


def test_request_id_acceptance() -> None:
    assert accept_request_id("abc-123_x.y:z") == "abc-123_x.y:z"
    assert accept_request_id("x" * 128) == "x" * 128
    assert accept_request_id("x" * 129) != "x" * 129
    assert accept_request_id("bad id with spaces") != "bad id with spaces"
    assert len(accept_request_id(None)) == 32


async def test_safe_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"


@pytest.mark.parametrize("bad", ["a" * 129, "drop table;", "<script>"])
async def test_unsafe_request_id_is_replaced(http: httpx.AsyncClient, bad: str) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": bad})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


async def test_security_headers_on_every_response(http: httpx.AsyncClient) -> None:
    for response in (await http.get("/healthz"), await http.get("/nothing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


async def test_api_responses_are_not_cached(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/anything")
    assert response.headers["cache-control"] == "no-store"


async def test_body_within_limit_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.post("/test/size", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"bytes": LIMIT}


async def test_body_over_limit_by_content_length_is_413(http: httpx.AsyncClient) -> None:
    response = await http.post("/test/size", content=b"x" * (LIMIT + 1))
    assert_problem(response, 413, "payload_too_large")


async def test_chunked_body_over_limit_is_413(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 1000

    response = await http.post("/test/size", content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


async def test_cors_preflight_for_allowed_origin(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/api/v1/tasks",
        headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://ui.example"


async def test_cors_refuses_other_origins(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/api/v1/tasks",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    problem = assert_problem(response, 400, "cors_rejected")
    assert "origin" in problem["detail"]
    assert problem["instance"] == "/api/v1/tasks"
    assert "access-control-allow-origin" not in response.headers


async def test_cors_refuses_unknown_methods_and_headers_as_problems(
    http: httpx.AsyncClient,
) -> None:
    method = await http.options(
        "/api/v1/tasks",
        headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "PUT"},
    )
    header = await http.options(
        "/api/v1/tasks",
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Secret-Thing",
        },
    )
    assert "method" in assert_problem(method, 400, "cors_rejected")["detail"]
    assert "headers" in assert_problem(header, 400, "cors_rejected")["detail"]


async def test_cors_preflight_accepts_prefer(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/api/v1/tasks",
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "prefer, idempotency-key, content-type",
        },
    )
    assert response.status_code == 200
    assert "prefer" in response.headers["access-control-allow-headers"].lower()


async def test_cors_exposes_www_authenticate(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/users/me", headers={"Origin": "https://ui.example"})
    assert response.status_code == 401
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in exposed
    assert "www-authenticate" in response.headers


async def test_no_hsts_by_default(http: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await http.get("/healthz")).headers


async def test_hsts_when_enabled_on_every_answer(settings: Settings) -> None:
    tuned = settings.model_copy(update={"hsts_enabled": True, "hsts_max_age_seconds": 600})
    async with started(new_app(tuned)) as app, asgi_client(app) as client:
        answers = [await client.get("/healthz"), await client.get("/api/v1/users/me")]
    for answer in answers:
        assert answer.headers["strict-transport-security"] == "max-age=600"


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_large_responses_are_gzipped(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["text"] == "x" * 5000


async def test_small_responses_are_not_gzipped(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
