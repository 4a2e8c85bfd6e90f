"""`Authorization: Basic ...` credentials never reach a log line, whatever carries them there."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request

from service.config import Settings
from tests.support.apps import new_app, serving

CREDENTIALS = base64.b64encode(b"ops-client:s3cr3t-client-passphrase").decode()
BASIC = f"Basic {CREDENTIALS}"


def _echoing_app(settings: Settings) -> FastAPI:
    app = new_app(settings.model_copy(update={"log_level": "INFO"}))

    async def refuse(request: Request) -> None:
        # A defect whose message carries the header, as a careless upstream call would.
        raise RuntimeError(f"upstream refused {request.headers['authorization']}")

    async def narrate(request: Request) -> dict[str, str]:
        authorization = request.headers["authorization"]
        logging.getLogger("uvicorn.error").warning("forwarding %s", authorization)
        structlog.get_logger("service.test").info(
            "forwarding", sent=f"Authorization: {authorization}"
        )
        structlog.get_logger("service.test").info(
            "forwarding", sent={"upstream": authorization.upper()}
        )
        return {"ok": "yes"}

    app.add_api_route("/test/refuse", refuse, methods=["GET"])
    app.add_api_route("/test/narrate", narrate, methods=["GET"])
    return app


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(_echoing_app(settings), raise_app_exceptions=False) as client:
        yield client


def _lines(captured: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in captured.splitlines() if raw.startswith("{")]


async def test_a_logged_exception_does_not_carry_basic_credentials(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()

    response = await http.get("/test/refuse", headers={"Authorization": BASIC})

    assert response.status_code == 500
    captured = capfd.readouterr().out
    (line,) = [line for line in _lines(captured) if line["event"] == "unhandled_exception"]
    assert "upstream refused Basic [REDACTED]" in str(line["exception"])
    assert CREDENTIALS not in captured


async def test_log_messages_and_values_do_not_carry_basic_credentials(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()

    response = await http.get("/test/narrate", headers={"Authorization": BASIC})

    assert response.status_code == 200
    captured = capfd.readouterr().out
    lines = [line for line in _lines(captured) if "forwarding" in str(line["event"])]
    assert len(lines) == 3
    assert CREDENTIALS not in captured
    assert CREDENTIALS.upper() not in captured


async def test_basic_client_credentials_sent_to_the_token_endpoint_are_not_logged(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()

    response = await http.post(
        "/api/v1/auth/token",
        data={"username": "someone@example.com", "password": "whatever password"},
        headers={"Authorization": BASIC},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    captured = capfd.readouterr().out
    assert any(line.get("logger") == "service.access" for line in _lines(captured))
    assert CREDENTIALS not in captured
    assert "s3cr3t-client-passphrase" not in captured
