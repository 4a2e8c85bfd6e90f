"""Request dependencies of the users domain: the caller, and a session for auth endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from service.core.security import AccessClaims, access_claims
from service.db.engine import DbSession
from service.domains.users import service as users_service
from service.domains.users.errors import KeepsChanges
from service.domains.users.models import User


async def _session_keeping_security_records(session: DbSession) -> AsyncIterator[AsyncSession]:
    """The request session, committed even when the answer is a KeepsChanges error.

    A failed login must be counted and a reused refresh token must revoke its family
    although the request itself answers 401.
    """
    try:
        yield session
    except KeepsChanges:
        await session.commit()
        raise


AuthSession = Annotated[AsyncSession, Depends(_session_keeping_security_records, scope="function")]


async def _current_user(
    session: DbSession, claims: Annotated[AccessClaims, Depends(access_claims)]
) -> User:
    """The user the bearer token names."""
    return await users_service.current_user(session=session, claims=claims)


CurrentUser = Annotated[User, Depends(_current_user)]
