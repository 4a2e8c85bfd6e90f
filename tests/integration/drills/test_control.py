"""The drill endpoints: an operator with DRILLS_TOKEN starts, lists, shows and stops drills."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.core.security import create_access_token
from service.state import app_state
from tests.integration.drills.conftest import DRILLS_TOKEN, OPERATOR, start_drill


async def _running(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/drills", headers=OPERATOR)
    assert response.status_code == 200, response.text
    drills: list[dict[str, Any]] = response.json()["drills"]
    return drills


async def test_an_operator_starts_lists_shows_and_stops_a_drill(http: httpx.AsyncClient) -> None:
    response = await start_drill(http, kind="error", duration_seconds=60, fraction=0.25)
    assert response.status_code == 201, response.text
    drill = response.json()
    assert response.headers["location"] == f"/drills/{drill['id']}"
    assert drill["kind"] == "error"
    assert (drill["fraction"], drill["status"], drill["latency_seconds"]) == (0.25, 500, None)
    assert drill["marker"] == f"error={drill['id']}"
    started, ends = (datetime.fromisoformat(drill[key]) for key in ("started_at", "ends_at"))
    assert drill["ends_at"].endswith("Z")
    assert (ends - started).total_seconds() == pytest.approx(60)

    assert await _running(http) == [drill]
    shown = await http.get(response.headers["location"], headers=OPERATOR)
    assert shown.status_code == 200
    assert shown.json() == drill

    stopped = await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    assert stopped.status_code == 204
    assert await _running(http) == []
    gone = await http.get(f"/drills/{drill['id']}", headers=OPERATOR)
    assert gone.status_code == 404
    assert gone.json()["code"] == "drill_not_found"


def _user_access_token(app: FastAPI) -> str:
    return create_access_token(app_state(app).settings, uuid.uuid4()).token


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-the-operator-token-0123456789abcdef",
        f"Bearer {DRILLS_TOKEN}x",
        f"Basic {DRILLS_TOKEN}",
        f"Bearer {DRILLS_TOKEN[:-1]}",
        "user-jwt",
    ],
    ids=["missing", "wrong", "longer", "basic-scheme", "prefix", "a-users-access-token"],
)
async def test_without_the_operator_token_no_drill_starts(
    http: httpx.AsyncClient,
    drill_app: FastAPI,
    authorization: str | None,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if authorization == "user-jwt":
        authorization = f"Bearer {_user_access_token(drill_app)}"
    headers = {"Authorization": authorization} if authorization else {}
    capfd.readouterr()
    body = {"kind": "error", "duration_seconds": 60}
    for response in (
        await http.post("/drills", json=body, headers=headers),
        await http.get("/drills", headers=headers),
        await http.delete(f"/drills/{uuid.uuid4().hex}", headers=headers),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "drill_token_invalid"
        assert response.headers["www-authenticate"] == 'Bearer realm="drills"'
    assert await _running(http) == []
    logged = [json.loads(line) for line in capfd.readouterr().out.splitlines() if "{" in line[:1]]
    failures = [line for line in logged if line.get("event") == "drill_auth_failed"]
    assert len(failures) == 3
    assert DRILLS_TOKEN not in json.dumps(logged)
    assert all(line["client"] == "10.9.8.7:5555" for line in failures)


async def test_with_drills_disabled_there_is_no_drill_endpoint(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.post(
            "/drills", json={"kind": "error", "duration_seconds": 60}, headers=OPERATOR
        ),
        await client.get("/drills", headers=OPERATOR),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(path.startswith("/drills") for path in paths)


async def test_with_drills_enabled_the_openapi_document_describes_them(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    assert {"/drills", "/drills/{drill_id}"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["DrillToken"]["scheme"] == "bearer"
    responses = document["paths"]["/drills"]["post"]["responses"]
    assert {"201", "401", "409", "422"} <= set(responses)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "error", "duration_seconds": 60, "fraction": 0}, "fraction"),
        ({"kind": "error", "duration_seconds": 60, "fraction": 1.5}, "fraction"),
        ({"kind": "error", "duration_seconds": 60, "fraction": "half"}, "fraction"),
        ({"kind": "error", "duration_seconds": 0}, "duration_seconds"),
        ({"kind": "error", "duration_seconds": 601}, "duration_seconds"),
        ({"kind": "error", "duration_seconds": "60"}, "duration_seconds"),
        ({"kind": "error"}, "duration_seconds"),
        ({"kind": "chaos", "duration_seconds": 60}, "kind"),
        ({"kind": "latency", "duration_seconds": 60}, "body"),
        ({"kind": "latency", "duration_seconds": 60, "latency_seconds": 31}, "latency_seconds"),
        ({"kind": "error", "duration_seconds": 60, "status": 418}, "status"),
        ({"kind": "readiness", "duration_seconds": 60, "status": 503}, "body"),
        ({"kind": "error", "duration_seconds": 60, "latency_seconds": 1}, "body"),
        ({"kind": "error", "duration_seconds": 60, "target": "all"}, "target"),
    ],
)
async def test_an_invalid_drill_is_refused_and_nothing_starts(
    http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await http.post("/drills", json=body, headers=OPERATOR)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert field in {error["field"] for error in problem["errors"]}
    assert await _running(http) == []


async def test_a_drill_longer_than_the_configured_maximum_names_the_setting(
    http: httpx.AsyncClient,
) -> None:
    response = await start_drill(http, kind="error", duration_seconds=601)
    (error,) = response.json()["errors"]
    assert "600" in error["message"] and "DRILLS_MAX_DURATION_SECONDS" in error["message"]


async def test_a_second_drill_of_a_running_kind_is_refused(http: httpx.AsyncClient) -> None:
    first = (await start_drill(http, kind="error", duration_seconds=60)).json()
    second = await start_drill(http, kind="error", duration_seconds=30, fraction=0.1)
    assert second.status_code == 409
    problem = second.json()
    assert problem["code"] == "drill_active"
    assert problem["active"]["id"] == first["id"]
    assert first["id"] in problem["detail"]
    # Another kind combines with it.
    latency = await start_drill(http, kind="latency", duration_seconds=60, latency_seconds=0.1)
    assert latency.status_code == 201
    assert {drill["kind"] for drill in await _running(http)} == {"error", "latency"}


async def test_concurrent_starts_of_one_kind_start_one_drill(http: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(start_drill(http, kind="readiness", duration_seconds=60) for _ in range(8))
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * 7
    assert len(await _running(http)) == 1


async def test_stopping_an_unknown_or_stopped_drill_is_not_found(http: httpx.AsyncClient) -> None:
    drill = (await start_drill(http, kind="error", duration_seconds=60)).json()
    assert (await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)).status_code == 204
    again = await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    unknown = await http.delete(f"/drills/{uuid.uuid4().hex}", headers=OPERATOR)
    for response in (again, unknown):
        assert response.status_code == 404
        assert response.json()["code"] == "drill_not_found"
    too_long = await http.delete(f"/drills/{'a' * 65}", headers=OPERATOR)
    assert too_long.status_code == 422


async def test_an_expired_drill_is_gone_and_its_kind_can_start_again(
    http: httpx.AsyncClient,
) -> None:
    drill = (await start_drill(http, kind="error", duration_seconds=1)).json()
    await asyncio.sleep(1.2)
    assert await _running(http) == []
    stop = await http.delete(f"/drills/{drill['id']}", headers=OPERATOR)
    assert stop.status_code == 404
    assert "may have ended" in stop.json()["detail"]
    assert (await start_drill(http, kind="error", duration_seconds=60)).status_code == 201
