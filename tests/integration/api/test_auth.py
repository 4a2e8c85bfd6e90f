"""POST /auth/token (password grant) and POST /auth/refresh (rotation, reuse)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.core import security
from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.users.models import LoginAttempt, RefreshToken
from tests.integration.api.helpers import LoggedIn, login, register, unique_email
from tests.support.problems import assert_problem

VOLATILE = ("request_id", "instance")


async def test_login_returns_a_token_pair_with_validated_claims(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    email = unique_email()
    user = (await register(client, app, email=email)).json()

    response = await login(client, app, f" {email.upper()} ")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds == 900
    claims = jwt.decode(
        body["access_token"],
        settings.jwt_key,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == user["id"]
    assert claims["exp"] - claims["iat"] == 900
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert len(body["refresh_token"]) >= 40


async def test_wrong_password_and_unknown_user_give_the_same_400(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dummy_checks = 0
    verify_dummy = security.verify_dummy_password

    async def counting(password: str) -> None:
        nonlocal dummy_checks
        dummy_checks += 1
        await verify_dummy(password)

    monkeypatch.setattr(security, "verify_dummy_password", counting)

    wrong = await login(client, app, alice.email, "not the password at all")
    unknown = await login(client, app, unique_email("nobody"), "not the password at all")

    wrong_body = assert_problem(wrong, 400, "invalid_credentials")
    unknown_body = assert_problem(unknown, 400, "invalid_credentials")
    assert {k: v for k, v in wrong_body.items() if k not in VOLATILE} == {
        k: v for k, v in unknown_body.items() if k not in VOLATILE
    }
    assert wrong_body["error"] == "invalid_grant"
    assert "www-authenticate" not in wrong.headers
    assert "www-authenticate" not in unknown.headers
    assert dummy_checks == 1  # the unknown user still costs one argon2 verification


async def test_login_without_form_fields_is_400(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(app.url_path_for("issueToken"), data={"username": "a@b.co"})

    assert assert_problem(response, 400, "invalid_request")["error"] == "invalid_request"


async def test_login_with_unusable_username_is_400(client: httpx.AsyncClient, app: FastAPI) -> None:
    for username in ("a\u0000b@example.com", "x" * 400):
        assert_problem(await login(client, app, username), 400, "invalid_credentials")


async def _count_attempts(session: AsyncSession, email: str) -> int:
    statement = select(func.count()).where(LoginAttempt.email_normalized == email)
    return int(await session.scalar(statement) or 0)


async def _refresh(client: httpx.AsyncClient, app: FastAPI, token: str) -> httpx.Response:
    return await client.post(app.url_path_for("refreshToken"), json={"refresh_token": token})


async def test_refresh_returns_a_new_pair_that_works(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    response = await _refresh(client, app, alice.tokens["refresh_token"])

    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["refresh_token"] != alice.tokens["refresh_token"]
    me = await client.get(
        app.url_path_for("getCurrentUser"),
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert me.json()["id"] == alice.user["id"]
    assert (await _refresh(client, app, pair["refresh_token"])).status_code == 200


async def test_reused_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    first = alice.tokens["refresh_token"]
    second = (await _refresh(client, app, first)).json()["refresh_token"]
    other_login = (await login(client, app, alice.email)).json()["refresh_token"]

    reuse = await _refresh(client, app, first)

    assert_problem(reuse, 401, "invalid_token")
    assert reuse.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await _refresh(client, app, second), 401, "invalid_token")
    # Another login is another family and keeps working.
    assert (await _refresh(client, app, other_login)).status_code == 200
    family = await db_session.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == security.hash_refresh_token(first)
        )
    )
    live = await db_session.scalar(
        select(func.count()).where(
            RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None)
        )
    )
    assert live == 0


async def test_refresh_tokens_are_stored_only_as_hashes(
    alice: LoggedIn, db_session: WriteSession
) -> None:
    raw = alice.tokens["refresh_token"]
    stored = (await db_session.scalars(select(RefreshToken.token_hash))).all()

    assert raw not in stored
    assert security.hash_refresh_token(raw) in stored


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await _refresh(client, app, "never-issued"), 401, "invalid_token")


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn, db_session: WriteSession
) -> None:
    token_hash = security.hash_refresh_token(alice.tokens["refresh_token"])
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await db_session.commit()

    assert_problem(await _refresh(client, app, alice.tokens["refresh_token"]), 401, "invalid_token")


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": "x", "extra": 1}]
)
async def test_refresh_with_invalid_body_is_422(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, object]
) -> None:
    response = await client.post(app.url_path_for("refreshToken"), json=body)

    assert_problem(response, 422, "validation_failed")


async def test_revoked_refresh_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, db_session: WriteSession
) -> None:
    email = unique_email()
    await register(client, app, email=email)
    pair = (await login(client, app, email)).json()
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == security.hash_refresh_token(pair["refresh_token"]))
        .values(revoked_at=utcnow())
    )
    await db_session.commit()

    assert_problem(await _refresh(client, app, pair["refresh_token"]), 401, "invalid_token")
