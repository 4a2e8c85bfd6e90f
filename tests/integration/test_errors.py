"""Every error is one problem+json shape, and nothing internal leaks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.engine import URL

from service.db.engine import create_engine
from service.dependencies import ReadSessionDep, WriteSessionDep
from tests.support.apps import asgi_client, make_settings, new_app, started
from tests.support.problems import assert_problem
from tests.support.server import free_port


class Payload(BaseModel):
    name: str = Field(min_length=1)
    count: int


@pytest.fixture(scope="module")
async def error_app(database_url: URL) -> AsyncIterator[FastAPI]:
    """The app with a few extra routes that fail on purpose.

    A 500 ms statement timeout gives asyncpg a command timeout of 1.5 s.
    """
    app = new_app(make_settings(database_url, db_statement_timeout_ms=500))

    @app.post("/test/echo")
    async def echo(payload: Payload) -> Payload:
        return payload

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/test/bad-sql")
    async def bad_sql(session: ReadSessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table WHERE secret = 'hunter2'"))

    @app.get("/test/own-timeout")
    async def own_timeout() -> None:
        raise TimeoutError("an HTTP call of our own gave up")

    @app.get("/test/own-connection-error")
    async def own_connection_error() -> None:
        raise ConnectionRefusedError(111, "an HTTP call of our own was refused")

    @app.get("/test/unreachable-db")
    async def unreachable_db() -> None:
        # A real driver failure: asyncpg connecting to a port nothing listens on.
        nowhere = make_settings(database_url.set(host="127.0.0.1", port=free_port()))
        engine = create_engine(nowhere, pooled=False)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    @app.get("/test/silent-db")
    async def silent_db(session: WriteSessionDep) -> None:
        # The server never cancels this statement: asyncpg's command timeout ends it.
        await session.execute(text("SET LOCAL statement_timeout = 0"))
        await session.execute(text("SELECT pg_sleep(30)"))

    async with started(app):
        yield app


@pytest.fixture
async def http(error_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(error_app, raise_app_exceptions=False) as client:
        yield client


async def test_valid_request_passes(http: httpx.AsyncClient) -> None:
    response = await http.post("/test/echo", json={"name": "a", "count": 1})
    assert response.status_code == 200
    assert response.json() == {"name": "a", "count": 1}


async def test_unknown_route_is_404(http: httpx.AsyncClient) -> None:
    body = assert_problem(await http.get("/api/v1/nothing"), 404, "not_found")
    assert body["instance"] == "/api/v1/nothing"


async def test_wrong_method_is_405(http: httpx.AsyncClient) -> None:
    assert_problem(await http.delete("/healthz"), 405, "method_not_allowed")


async def test_validation_error_is_422_naming_each_field(http: httpx.AsyncClient) -> None:
    body = assert_problem(
        await http.post("/test/echo", json={"name": "", "count": "x"}), 422, "validation_failed"
    )
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {error["field"] for error in errors} == {"name", "count"}


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/test/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed_body")
    assert "errors" not in body


async def test_unexpected_exception_is_generic_500(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/boom")
    body = assert_problem(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert str(body["detail"]).startswith("An unexpected error occurred")


async def test_database_error_never_shows_sql(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    response = await http.get("/test/bad-sql")
    assert_problem(response, 500, "internal_error")
    assert "no_such_table" not in response.text
    logged = capfd.readouterr()
    assert "hunter2" not in logged.out + logged.err
    assert "SELECT * FROM" not in logged.out + logged.err


async def test_a_timeout_outside_the_driver_is_a_defect(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/own-timeout")
    body = assert_problem(response, 500, "internal_error")
    assert "retry-after" not in response.headers
    assert "gave up" not in str(body)


async def test_a_connection_error_outside_the_driver_is_a_defect(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/own-connection-error")
    assert_problem(response, 500, "internal_error")
    assert "retry-after" not in response.headers


@pytest.mark.postgres
async def test_an_unreachable_database_is_503_with_retry_after(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/unreachable-db")
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "5"


@pytest.mark.postgres
async def test_a_database_that_stops_answering_is_503_with_retry_after(
    http: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    response = await http.get("/test/silent-db")
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "5"
    assert time.monotonic() - started < 15, "the command timeout did not end the statement"
