"""Users and authentication: registration, login with rate limiting, token rotation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
    TooManyRegistrationsError,
    UserGoneError,
)
from service.domains.users.limits import (
    LOGIN_WINDOW,
    LoginFailures,
    LoginLimits,
    registration_limit,
)
from service.domains.users.models import (
    CLIENT_ADDRESS_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    RefreshToken,
    User,
)
from service.domains.users.repository import (
    LoginAttemptRepository,
    RefreshTokenRepository,
    RegistrationAttemptRepository,
    UserRepository,
)
from service.domains.users.schemas import TokenPair, UserCreate
from service.telemetry import events

# The default limit per e-mail and address (LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS).
MAX_FAILED_LOGINS = 10


@dataclass(frozen=True)
class Login:
    """A successful login: the token pair, and the rate-limit fields of the answer."""

    tokens: TokenPair
    headers: dict[str, str]


async def register(
    *, session: WriteSession, settings: Settings, payload: UserCreate, client: str | None = None
) -> User:
    """Create a user; EmailTakenError when the e-mail (case-insensitively) is in use.

    Every registration counts toward its client address's limit, whatever its answer;
    beyond it TooManyRegistrationsError, before any password work or user lookup. The
    password is then hashed whether or not the e-mail is taken, outside any
    transaction: both answers take one hash's time, and no connection waits for it.
    """
    address = (client or "")[:CLIENT_ADDRESS_MAX_LENGTH]
    limit = registration_limit(settings)
    attempts = RegistrationAttemptRepository(session)
    # One short transaction under the address's lock: concurrent registrations from one
    # address count against each other, so none of them runs over the limit.
    await attempts.lock(address)
    now = utcnow()
    retry_after = limit.retry_after(
        await attempts.recent(address, now - limit.window, limit.limit), now
    )
    if retry_after:
        events.registration_limited(client=client, retry_after_seconds=retry_after)
        raise TooManyRegistrationsError(retry_after)
    # Refused for lack of capacity (503): rolled back, the attempt does not count.
    async with security.password_work():
        await attempts.record(address, now)
        # The attempt stays counted whatever follows; the user is the request's own commit.
        await session.commit()
        password_hash = await security.hash_password(payload.password)
    # The schema validated the address; its key is its lower-case form.
    user = User(
        email=payload.email,
        email_normalized=email_key(payload.email),
        display_name=payload.display_name,
        password_hash=password_hash,
    )
    stored = await UserRepository(session).insert_unless_email_taken(user)
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


@dataclass(frozen=True)
class _Reserved:
    user: User | None
    failures: LoginFailures  # before this attempt
    now: datetime


async def _reserve_attempt(
    session: WriteSession, limits: LoginLimits, email: str, address: str, client: str | None
) -> _Reserved:
    # One short transaction: check the limits and record this attempt as a failure
    # (so that concurrent guesses count against each other), then commit, before any
    # password work: argon2 must never run while a transaction holds a connection.
    attempts = LoginAttemptRepository(session)
    await attempts.lock(email)
    now = utcnow()
    since = now - LOGIN_WINDOW
    failures = LoginFailures(
        account_address=await attempts.recent_failures_from(
            address, since, limits.account_address.limit, email
        ),
        address=await attempts.recent_failures_from(address, since, limits.address.limit),
        account=await attempts.recent_failures(email, since, limits.account.limit),
    )
    retry_after = failures.retry_after(limits, now)
    if retry_after:
        events.login_failed(reason="locked", client=client)
        raise TooManyAttemptsError(retry_after, failures.headers(limits, now))
    user = await UserRepository(session).get_by_email(email) if email else None
    await attempts.record_failure(email, now, address)
    # The one commit of a service: the login is two transactions, the hash between them.
    await session.commit()
    return _Reserved(user, failures, now)


async def _check_password(user: User | None, password: str) -> str | None:
    # The password hash to store from now on (the same unless rehashed); None if wrong.
    if user is None:
        await security.verify_dummy_password(password)
        return None
    if not await security.verify_password(user.password_hash, password):
        return None
    if security.password_needs_rehash(user.password_hash):
        return await security.hash_password(password)
    return user.password_hash


def _report_failure(
    reserved: _Reserved, limits: LoginLimits, client: str | None, reason: str
) -> LoginFailures:
    failed = reserved.failures.with_failure(reserved.now)
    user_id = reserved.user.id if reserved.user else None
    events.login_failed(reason=reason, client=client, user_id=user_id)
    if failed.at_a_limit(limits):
        retry_after = failed.retry_after(limits, reserved.now)
        events.lockout(client=client, retry_after_seconds=retry_after, user_id=user_id)
    return failed


async def issue_tokens(
    *,
    session: WriteSession,
    settings: Settings,
    username: str,
    password: str,
    client: str | None = None,
) -> Login:
    """Log in with e-mail and password from a client address (rate limited); start a family."""
    email = login_key(username)
    reason = "wrong_password"
    if not email or len(email) > EMAIL_MAX_LENGTH or "\x00" in email:
        # Cannot name any user nor be stored: limited like a login for no e-mail.
        email, reason = "", "invalid_username"
    address = (client or "")[:CLIENT_ADDRESS_MAX_LENGTH]
    limits = LoginLimits.of(settings)
    async with security.password_work():
        reserved = await _reserve_attempt(session, limits, email, address, client)
        password_hash = await _check_password(reserved.user, password)
    if reserved.user is None or password_hash is None:
        if reserved.user is None and email:
            reason = "unknown_user"
        failed = _report_failure(reserved, limits, client, reason)
        raise InvalidCredentialsError(failed.headers(limits, reserved.now))
    user = reserved.user
    await LoginAttemptRepository(session).forget(email, address)
    if password_hash != user.password_hash:
        await UserRepository(session).set_password_hash(user.id, password_hash)
    tokens = _new_token_pair(session, settings, user, uuid.uuid4(), reserved.now)
    return Login(tokens, reserved.failures.forgiven().headers(limits, reserved.now))


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
