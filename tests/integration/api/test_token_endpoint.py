"""The token endpoint as RFC 6749 describes it: §5.2 errors, the refresh_token grant, no-store."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from service.db.session import WriteSession
from service.domains.users.models import RefreshToken
from tests.integration.api.helpers import LoggedIn, login
from tests.support.problems import assert_problem

FORM = "application/x-www-form-urlencoded"


async def _token(
    client: httpx.AsyncClient,
    app: FastAPI,
    form: dict[str, Any] | list[tuple[str, str]],
    **kwargs: Any,
) -> httpx.Response:
    if isinstance(form, list):
        # Repeated fields: httpx's async client takes only a mapping as `data`.
        headers = {**kwargs.pop("headers", {}), "Content-Type": FORM}
        return await client.post(
            app.url_path_for("issueToken"), content=urlencode(form), headers=headers, **kwargs
        )
    return await client.post(app.url_path_for("issueToken"), data=form, **kwargs)


def assert_oauth_error(
    response: httpx.Response, status: int, error: str, code: str | None = None
) -> dict[str, Any]:
    """A problem+json document that is also an RFC 6749 §5.2 error response."""
    body = assert_problem(response, status, code or error)
    assert body["error"] == error
    assert body["error_description"] == body["detail"]
    assert response.headers["cache-control"] == "no-store"
    return body


def _basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def _me(client: httpx.AsyncClient, app: FastAPI, pair: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    return await client.get(app.url_path_for("getCurrentUser"), headers=headers)


# --- RFC 6749 §5.2 error responses


async def test_wrong_credentials_are_400_invalid_grant(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    form = {"grant_type": "password", "username": alice.email, "password": "not the password"}

    response = await _token(client, app, form)

    body = assert_oauth_error(response, 400, "invalid_grant", "invalid_credentials")
    assert body["error_description"] == "The e-mail or password is incorrect."
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    ("form", "detail"),
    [
        ({"username": "a@example.com"}, "password is required"),
        ({"grant_type": "password", "password": "x" * 12}, "username is required"),
        ({"username": "a@example.com", "password": "x" * 129}, "exceeds 128"),
        (
            [("username", "a@example.com"), ("username", "b@example.com"), ("password", "p")],
            "repeated",
        ),
        ({"grant_type": "refresh_token"}, "refresh_token is required"),
    ],
)
async def test_malformed_requests_are_400_invalid_request(
    client: httpx.AsyncClient,
    app: FastAPI,
    form: dict[str, Any] | list[tuple[str, str]],
    detail: str,
) -> None:
    body = assert_oauth_error(await _token(client, app, form), 400, "invalid_request")

    assert detail in body["detail"]


async def test_a_json_body_is_400_invalid_request(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(
        app.url_path_for("issueToken"), json={"username": "a@example.com", "password": "p"}
    )

    body = assert_oauth_error(response, 400, "invalid_request")
    assert "application/x-www-form-urlencoded" in body["detail"]


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "PASSWORD"])
async def test_other_grant_types_are_400_unsupported_grant_type(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, grant_type: str
) -> None:
    form = {"grant_type": grant_type, "username": alice.email, "password": alice.password}

    assert_oauth_error(await _token(client, app, form), 400, "unsupported_grant_type")


async def test_a_public_client_id_is_accepted(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    form = {"username": alice.email, "password": alice.password, "client_id": "cli"}
    # Swagger UI's Authorize sends `client_id:` with an empty secret as Basic credentials.
    response = await _token(client, app, form, headers=_basic(":"))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "extra"),
    [
        (_basic("cli:secret"), {}),
        ({"Authorization": "Basic not base64!"}, {}),
        ({}, {"client_id": "cli", "client_secret": "secret"}),
    ],
)
async def test_client_authentication_is_401_invalid_client_with_a_challenge(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    headers: dict[str, str],
    extra: dict[str, str],
) -> None:
    form = {"username": alice.email, "password": alice.password, **extra}

    response = await _token(client, app, form, headers=headers)

    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="tasks-api"'


# --- grant_type=refresh_token


def _refresh_grant(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token}


async def test_the_refresh_token_grant_rotates_like_the_refresh_route(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    response = await _token(client, app, _refresh_grant(alice.tokens["refresh_token"]))

    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["refresh_token"] != alice.tokens["refresh_token"]
    assert (await _me(client, app, pair)).json()["id"] == alice.user["id"]
    again = await _token(client, app, _refresh_grant(pair["refresh_token"]))
    assert again.status_code == 200, again.text


async def test_an_unknown_refresh_token_is_400_invalid_grant(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await _token(client, app, _refresh_grant("never-issued"))

    assert_oauth_error(response, 400, "invalid_grant")
    assert "www-authenticate" not in response.headers


async def test_a_reused_refresh_token_is_400_invalid_grant_and_revokes_everything(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    first = alice.tokens["refresh_token"]
    rotated = (await _token(client, app, _refresh_grant(first))).json()

    reuse = await _token(client, app, _refresh_grant(first))

    body = assert_oauth_error(reuse, 400, "invalid_grant")
    assert "already used" in body["detail"]
    # The revocation was committed although the answer is an error.
    live = await db_session.scalar(
        select(func.count()).where(
            RefreshToken.user_id == uuid.UUID(alice.user["id"]),
            RefreshToken.revoked_at.is_(None),
        )
    )
    assert live == 0
    assert (await _me(client, app, rotated)).status_code == 401
    assert (await _token(client, app, _refresh_grant(rotated["refresh_token"]))).status_code == 400


# --- Cache-Control: no-store on every answer that carries tokens (RFC 6749 §5.1)


async def test_token_responses_are_never_stored(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    password = await login(client, app, alice.email)
    refreshed = await _token(client, app, _refresh_grant(password.json()["refresh_token"]))
    rotated = await client.post(
        app.url_path_for("refreshToken"), json={"refresh_token": refreshed.json()["refresh_token"]}
    )

    for response in (password, refreshed, rotated):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


async def test_the_document_declares_both_grants_and_the_token_problem(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/auth/token"]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    grants = {
        alternative["title"]: alternative["properties"]["grant_type"]["enum"]
        for alternative in form["oneOf"]
    }
    assert grants == {"PasswordGrant": ["password"], "RefreshTokenGrant": ["refresh_token"]}
    assert set(operation["responses"]["200"]["headers"]) >= {"Cache-Control", "Pragma"}
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    token_problem = document["components"]["schemas"]["TokenProblem"]
    assert token_problem["required"] == ["error"]
    assert token_problem["properties"]["error"]["enum"] == [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
    ]
