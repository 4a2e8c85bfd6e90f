"""Queries of the users domain; the session belongs to the request."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from service.db.repository import RepositoryBase
from service.domains.users.models import LoginAttempt, RefreshToken, RegistrationAttempt, User

# Namespace of the per-e-mail locks that serialise login attempts.
_LOGIN_LOCK_NAMESPACE = 0x7A5C_0002
# Namespace of the per-address locks that serialise registrations.
_REGISTRATION_LOCK_NAMESPACE = 0x7A5C_0003


class UserRepository(RepositoryBase[User]):
    """Reads and writes users."""

    model = User

    async def get_by_email(self, email_normalized: str) -> User | None:
        """The user with this normalised e-mail, if any."""
        statement = select(User).where(User.email_normalized == email_normalized)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def insert_unless_email_taken(self, user: User) -> User | None:
        """Insert the user and return the stored row; None, with nothing written, if taken."""
        statement = self.insert_on_conflict(user, conflict=[User.email_normalized])
        inserted = await self.session.scalars(statement.returning(User))
        return inserted.one_or_none()

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        """Replace a user's password hash (after a parameter upgrade)."""
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )

    async def raise_token_version(self, user_id: uuid.UUID) -> None:
        """Revoke every access token issued to the user so far."""
        await self.session.execute(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1),
            execution_options={"synchronize_session": False},
        )


class RefreshTokenRepository(RepositoryBase[RefreshToken]):
    """Reads and writes refresh tokens (stored by hash)."""

    model = RefreshToken

    async def claim(self, token_hash: str, now: datetime) -> RefreshToken | None:
        """Atomically mark a live, unused token as used; None when no such token qualifies."""
        statement = (
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken)
        )
        result = await self.session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return result.scalar_one_or_none()

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        """The token stored under this hash, whatever its state."""
        statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> int:
        """Revoke every still-valid token of a family; returns how many were revoked."""
        statement = (
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        result = await self.session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return int(getattr(result, "rowcount", 0) or 0)


class LoginAttemptRepository(RepositoryBase[LoginAttempt]):
    """Failed and running login attempts, the state of the login limits."""

    model = LoginAttempt

    async def lock(self, email_normalized: str) -> None:
        """Serialise login attempts for this e-mail until the transaction ends.

        Not per address: every login behind one NAT would wait in line. The
        per-address count may so run over by the logins in flight at once
        (bounded by the password-work admission), the per-e-mail ones cannot.
        """
        await self.lock_until_commit(_LOGIN_LOCK_NAMESPACE, email_normalized)

    async def _recent(self, since: datetime, limit: int, *where: Any) -> Sequence[datetime]:
        statement = (
            select(LoginAttempt.attempted_at)
            .where(LoginAttempt.attempted_at > since, *where)
            .order_by(LoginAttempt.attempted_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def recent_failures(
        self, email_normalized: str, since: datetime, limit: int
    ) -> Sequence[datetime]:
        """Times of the latest failures for an e-mail from any address, newest first."""
        return await self._recent(since, limit, LoginAttempt.email_normalized == email_normalized)

    async def recent_failures_from(
        self, client_address: str, since: datetime, limit: int, email_normalized: str | None = None
    ) -> Sequence[datetime]:
        """Times of the latest failures from an address (for one e-mail if given), newest first."""
        where = [LoginAttempt.client_address == client_address]
        if email_normalized is not None:
            where.append(LoginAttempt.email_normalized == email_normalized)
        return await self._recent(since, limit, *where)

    async def record_failure(
        self, email_normalized: str, at: datetime, client_address: str = ""
    ) -> uuid.UUID:
        """Store one failed (or not yet decided) attempt; returns its id."""
        attempt = LoginAttempt(
            email_normalized=email_normalized, client_address=client_address, attempted_at=at
        )
        return (await self.add(attempt)).id

    async def forget(self, email_normalized: str, client_address: str) -> None:
        """Delete the failures of an e-mail from an address (its owner logged in from there)."""
        await self.session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.email_normalized == email_normalized,
                LoginAttempt.client_address == client_address,
            )
        )


class RegistrationAttemptRepository(RepositoryBase[RegistrationAttempt]):
    """Registrations per client address, the state of the registration limit."""

    model = RegistrationAttempt

    async def lock(self, client_address: str) -> None:
        """Serialise registrations from this address until the transaction ends.

        Held for one count and one insert, never during password work: the
        registrations of one address wait for each other only that long.
        """
        await self.lock_until_commit(_REGISTRATION_LOCK_NAMESPACE, client_address)

    async def recent(self, client_address: str, since: datetime, limit: int) -> Sequence[datetime]:
        """Times of the latest registrations from an address after `since`, newest first."""
        statement = (
            select(RegistrationAttempt.attempted_at)
            .where(
                RegistrationAttempt.client_address == client_address,
                RegistrationAttempt.attempted_at > since,
            )
            .order_by(RegistrationAttempt.attempted_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def record(self, client_address: str, at: datetime) -> None:
        """Store one registration attempt from the address."""
        await self.add(RegistrationAttempt(client_address=client_address, attempted_at=at))
