"""Users and authentication: registration, login with rate limiting, token rotation."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.core import security
from service.core.security import AccessClaims, InvalidTokenError
from service.db.session import WriteSession
from service.db.types import utcnow
from service.domains.users.emails import email_key, login_key
from service.domains.users.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    RefreshTokenReusedError,
    TokenRevokedError,
    TooManyAttemptsError,
    UserGoneError,
)
from service.domains.users.models import EMAIL_MAX_LENGTH, RefreshToken, User
from service.domains.users.repository import (
    LoginAttemptRepository,
    RefreshTokenRepository,
    UserRepository,
)
from service.domains.users.schemas import TokenPair, UserCreate
from service.telemetry import events

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILED_LOGINS = 10


async def register(*, session: WriteSession, payload: UserCreate) -> User:
    """Create a user; EmailTakenError when the e-mail (case-insensitively) is in use."""
    users = UserRepository(session)
    # The schema validated the address; its key is its lower-case form.
    key = email_key(payload.email)
    if await users.get_by_email(key) is not None:
        raise EmailTakenError("A user with this e-mail already exists.")
    user = User(
        email=payload.email,
        email_normalized=key,
        display_name=payload.display_name,
        password_hash=await security.hash_password(payload.password),
    )
    # A concurrent registration may have won since the check above.
    stored = await users.insert_unless_email_taken(user)
    if stored is None:
        raise EmailTakenError("A user with this e-mail already exists.")
    return stored


async def current_user(
    *, session: AsyncSession, claims: AccessClaims, client: str | None = None
) -> User:
    """The user an access token names; 401 when it no longer exists or its tokens were revoked."""
    user = await UserRepository(session).get_by_id(claims.subject)
    if user is None:
        raise UserGoneError
    if claims.token_version != user.token_version:
        events.revoked_token_used(user_id=user.id, client=client)
        raise TokenRevokedError
    return user


def _retry_after(failures: list[datetime], now: datetime) -> int:
    # The block lifts when the oldest of the counted failures leaves the window.
    remaining = failures[-1] + LOGIN_WINDOW - now
    return max(1, math.ceil(remaining.total_seconds()))


async def _verify_credentials(
    session: WriteSession, email: str, password: str, client: str | None
) -> User | None:
    user = await UserRepository(session).get_by_email(email)
    if user is None:
        await security.verify_dummy_password(password)
        events.login_failed(reason="unknown_user", client=client)
        return None
    if not await security.verify_password(user.password_hash, password):
        events.login_failed(reason="wrong_password", client=client, user_id=user.id)
        return None
    if security.password_needs_rehash(user.password_hash):
        new_hash = await security.hash_password(password)
        await UserRepository(session).set_password_hash(user.id, new_hash)
    return user


async def issue_tokens(
    *,
    session: WriteSession,
    settings: Settings,
    username: str,
    password: str,
    client: str | None = None,
) -> TokenPair:
    """Log in with e-mail and password (rate limited per e-mail) and start a token family."""
    email = login_key(username)
    if not email or len(email) > EMAIL_MAX_LENGTH or "\x00" in email:
        # Cannot name any user nor be stored; answer exactly like a wrong password.
        await security.verify_dummy_password(password)
        events.login_failed(reason="invalid_username", client=client)
        raise InvalidCredentialsError
    attempts = LoginAttemptRepository(session)
    await attempts.lock_email(email)
    now = utcnow()
    failures = list(await attempts.recent_failures(email, now - LOGIN_WINDOW, MAX_FAILED_LOGINS))
    if len(failures) >= MAX_FAILED_LOGINS:
        events.login_failed(reason="locked", client=client)
        raise TooManyAttemptsError(_retry_after(failures, now))
    user = await _verify_credentials(session, email, password, client)
    if user is None:
        await attempts.record_failure(email, now)
        if len(failures) + 1 >= MAX_FAILED_LOGINS:
            known = await UserRepository(session).get_by_email(email)
            events.lockout(
                client=client,
                retry_after_seconds=_retry_after([now, *failures], now),
                user_id=known.id if known else None,
            )
        raise InvalidCredentialsError
    return _new_token_pair(session, settings, user, uuid.uuid4(), now)


async def refresh_tokens(
    *, session: WriteSession, settings: Settings, refresh_token: str, client: str | None = None
) -> TokenPair:
    """Exchange a refresh token (usable once) for a new pair.

    A reused one revokes its family and every access token of its user.
    """
    tokens = RefreshTokenRepository(session)
    token_hash = security.hash_refresh_token(refresh_token)
    now = utcnow()
    claimed = await tokens.claim(token_hash, now)
    if claimed is None:
        known = await tokens.get_by_hash(token_hash)
        if known is not None and (known.used_at is not None or known.revoked_at is not None):
            await _revoke_after_reuse(session, known, now, client)
            raise RefreshTokenReusedError
        raise InvalidTokenError("The refresh token is invalid or expired.")
    user = await UserRepository(session).get_by_id(claimed.user_id)
    if user is None:
        raise InvalidTokenError("The refresh token is invalid or expired.")
    return _new_token_pair(session, settings, user, claimed.family_id, now)


async def _revoke_after_reuse(
    session: WriteSession, reused: RefreshToken, now: datetime, client: str | None
) -> None:
    # Someone holds a copy of a rotated token: the thief or the owner may have the
    # newest one, so the family goes, and so does every access token of the user (other
    # logins can refresh). A family already revoked revokes nothing again, so replaying
    # an old stolen token cannot sign the owner out over and over.
    events.refresh_reuse(user_id=reused.user_id, family_id=reused.family_id, client=client)
    revoked = await RefreshTokenRepository(session).revoke_family(reused.family_id, now)
    if revoked:
        await UserRepository(session).raise_token_version(reused.user_id)
        events.tokens_revoked(
            user_id=reused.user_id, family_id=reused.family_id, revoked=revoked, client=client
        )


def _new_token_pair(
    session: WriteSession,
    settings: Settings,
    user: User,
    family_id: uuid.UUID,
    now: datetime,
) -> TokenPair:
    access = security.create_access_token(
        settings, user.id, token_version=user.token_version, now=now
    )
    raw_refresh = security.new_refresh_token()
    RefreshTokenRepository(session).stage(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=security.hash_refresh_token(raw_refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return TokenPair(
        access_token=access.token, expires_in=access.expires_in, refresh_token=raw_refresh
    )
