"""POST /users and GET /users/me through the HTTP interface."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import email_validator
import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from service.config import Settings
from service.core.security import create_access_token
from service.db.session import WriteSession
from service.domains.users.models import User
from tests.integration.api.helpers import PASSWORD, LoggedIn, register, unique_email
from tests.support.problems import assert_problem


async def test_an_email_is_validated_once_per_registration(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[str] = []
    real = email_validator.validate_email

    def counting(address: str, **options: Any) -> Any:
        validated.append(address)
        return real(address, **options)

    # A spy on the real validator, wherever the service imported it.
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("service.") and getattr(module, "validate_email", None) is real:
            monkeypatch.setattr(module, "validate_email", counting)

    response = await register(client, app, email=" Once@Example.com ")

    assert response.status_code == 201, response.text
    assert response.json()["email"] == "Once@example.com"  # the domain is normalised
    assert validated == ["Once@Example.com"]


async def test_register_returns_the_user_with_location(
    client: httpx.AsyncClient, app: FastAPI, db_session: WriteSession
) -> None:
    email = unique_email("ada")
    response = await register(client, app, email=f"  {email.upper()}  ", display_name=" Ada ")

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "display_name", "created_at"}
    local, domain = email.upper().split("@")
    assert body["email"] == f"{local}@{domain.lower()}"  # trimmed; the domain is normalised
    assert body["display_name"] == "Ada"
    assert body["created_at"].endswith("Z")
    assert response.headers["location"] == app.url_path_for("getCurrentUser")
    stored = await db_session.scalar(select(User).where(User.id == uuid.UUID(body["id"])))
    assert stored is not None
    assert stored.email_normalized == email
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


async def test_register_same_email_in_other_case_is_409(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    email = unique_email()
    assert (await register(client, app, email=email)).status_code == 201

    response = await register(client, app, email=f" {email.upper()} ")

    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "two@@example.com", "", "   ", "x" * 250 + "@example.com"]
)
async def test_register_invalid_email_is_422(
    client: httpx.AsyncClient, app: FastAPI, email: str
) -> None:
    response = await register(client, app, email=email)

    body = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["email"]


@pytest.mark.parametrize("password", ["x" * 11, "x" * 129, ""])
async def test_register_password_outside_12_to_128_is_422(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    response = await register(client, app, password=password)

    body = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["password"]


@pytest.mark.parametrize("password", ["x" * 12, "y" * 128])
async def test_register_password_at_the_bounds_is_accepted(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    assert (await register(client, app, password=password)).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.com", "password": PASSWORD, "is_admin": True},
        {"email": "x@example.com", "password": 123456789012345},
        {"email": True, "password": PASSWORD},
        {"email": "x@example.com", "password": PASSWORD, "display_name": "  "},
        {"email": "x@example.com", "password": PASSWORD, "display_name": "a\u0000b"},
        {"password": PASSWORD},
    ],
)
async def test_register_rejects_unknown_fields_and_loose_types(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, object]
) -> None:
    response = await client.post(app.url_path_for("createUser"), json=body)

    assert_problem(response, 422, "validation_failed")


async def test_me_returns_the_caller(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    response = await client.get(app.url_path_for("getCurrentUser"), headers=alice.headers)

    assert response.status_code == 200
    assert response.json() == alice.user


async def test_me_without_token_is_401_not_authenticated(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.get(app.url_path_for("getCurrentUser"))

    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_me_with_other_scheme_is_401_not_authenticated(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.get(
        app.url_path_for("getCurrentUser"), headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )

    assert_problem(response, 401, "not_authenticated")


def _claims(settings: Settings, subject: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _forged_tokens(settings: Settings, subject: str) -> dict[str, str]:
    key = settings.jwt_key
    valid = jwt.encode(_claims(settings, subject), key, algorithm="HS256")
    header, payload, signature = valid.split(".")
    expired_at = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    tokens = {
        "malformed": "not-a-jwt",
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "other secret": jwt.encode(_claims(settings, subject), "x" * 40, algorithm="HS256"),
        "algorithm none": jwt.encode(_claims(settings, subject), None, algorithm="none"),
        "algorithm HS512": jwt.encode(_claims(settings, subject), key, algorithm="HS512"),
        "expired": jwt.encode(_claims(settings, subject, exp=expired_at), key, algorithm="HS256"),
        "wrong audience": jwt.encode(
            _claims(settings, subject, aud="other"), key, algorithm="HS256"
        ),
        "wrong issuer": jwt.encode(_claims(settings, subject, iss="other"), key, algorithm="HS256"),
        "subject not a uuid": jwt.encode(_claims(settings, "alice"), key, algorithm="HS256"),
    }
    for claim in ("sub", "iat", "exp", "iss", "aud", "jti"):
        without = _claims(settings, subject, **{claim: None})
        tokens[f"no {claim}"] = jwt.encode(without, key, algorithm="HS256")
    return tokens


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_me_rejects_every_kind_of_invalid_token(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, alice: LoggedIn
) -> None:
    for name, token in _forged_tokens(settings, alice.user["id"]).items():
        response = await client.get(
            app.url_path_for("getCurrentUser"), headers={"Authorization": f"Bearer {token}"}
        )

        assert response.status_code == 401, name
        assert_problem(response, 401, "invalid_token")
        assert response.headers["www-authenticate"].startswith("Bearer"), name


async def test_me_with_token_of_unknown_user_is_401(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    token = create_access_token(settings, uuid.uuid4()).token

    response = await client.get(
        app.url_path_for("getCurrentUser"), headers={"Authorization": f"Bearer {token}"}
    )

    assert_problem(response, 401, "invalid_token")
