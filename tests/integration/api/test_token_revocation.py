"""A reused refresh token revokes the user's outstanding access tokens (token version)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select

from service.config import Settings
from service.db.session import WriteSession
from service.domains.users.models import User
from tests.integration.api.helpers import LoggedIn, login
from tests.support.problems import assert_problem


async def _me(client: httpx.AsyncClient, app: FastAPI, access_token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return await client.get(app.url_path_for("getCurrentUser"), headers=headers)


async def _refresh(client: httpx.AsyncClient, app: FastAPI, token: str) -> httpx.Response:
    return await client.post(app.url_path_for("refreshToken"), json={"refresh_token": token})


async def test_after_reuse_the_access_tokens_issued_before_answer_401(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    rotated = (await _refresh(client, app, alice.tokens["refresh_token"])).json()
    other_login = (await login(client, app, alice.email)).json()
    for token in (alice.tokens["access_token"], rotated["access_token"]):
        assert (await _me(client, app, token)).status_code == 200

    reuse = await _refresh(client, app, alice.tokens["refresh_token"])

    assert_problem(reuse, 401, "invalid_token")
    for token in (
        alice.tokens["access_token"],
        rotated["access_token"],
        other_login["access_token"],
    ):
        stale = await _me(client, app, token)
        body = assert_problem(stale, 401, "invalid_token")
        assert "revoked" in body["detail"]
        assert stale.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # Another login's refresh token still works, and its new access token too.
    renewed = await _refresh(client, app, other_login["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert (await _me(client, app, renewed.json()["access_token"])).status_code == 200


async def test_replaying_an_old_token_again_does_not_sign_the_owner_out_again(
    client: httpx.AsyncClient, app: FastAPI, alice: LoggedIn
) -> None:
    await _refresh(client, app, alice.tokens["refresh_token"])
    await _refresh(client, app, alice.tokens["refresh_token"])  # reuse: everything revoked
    fresh = (await login(client, app, alice.email)).json()

    replay = await _refresh(client, app, alice.tokens["refresh_token"])

    assert_problem(replay, 401, "invalid_token")
    assert (await _me(client, app, fresh["access_token"])).status_code == 200


def _token_without_version(settings: Settings, user_id: str) -> str:
    # What a release that did not issue `ver` signed: the same claims without it.
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": user_id,
        "iat": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_key, algorithm="HS256")


async def test_tokens_without_a_version_count_as_version_zero(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: LoggedIn,
    settings: Settings,
    db_session: WriteSession,
) -> None:
    legacy = _token_without_version(settings, alice.user["id"])
    assert (await _me(client, app, legacy)).status_code == 200

    await _refresh(client, app, alice.tokens["refresh_token"])
    await _refresh(client, app, alice.tokens["refresh_token"])

    assert_problem(await _me(client, app, legacy), 401, "invalid_token")
    version = await db_session.scalar(
        select(User.token_version).where(User.id == uuid.UUID(alice.user["id"]))
    )
    assert version == 1
