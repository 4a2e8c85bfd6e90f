"""Request dependencies of the users domain: the caller, and the sessions of the auth endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.core.security import (
    AccessClaims,
    NotAuthenticatedError,
    bearer_scheme,
    decode_access_token,
)
from service.db.session import WriteSession
from service.dependencies import ReadSessionDep, WriteSessionDep, write_session
from service.domains.users import service as users_service
from service.domains.users.errors import InvalidCredentialsError, RefreshTokenReusedError
from service.domains.users.models import User
from service.domains.users.oauth import ReusedGrantError
from service.state import app_state


async def access_claims(request: Request) -> AccessClaims:
    """The caller's validated access-token claims; 401 when missing or invalid.

    The bearer scheme parses the header as it would as a dependency of its own; an
    operation that depends on this declares `BEARER_REQUIRED` for its OpenAPI entry.
    """
    token = await bearer_scheme(request)
    if not token:
        raise NotAuthenticatedError
    return decode_access_token(app_state(request.app).settings, token)


Claims = Annotated[AccessClaims, Depends(access_claims)]


async def client_address(request: Request) -> str | None:
    """The caller's address as the server resolved it (forwarded headers of trusted proxies).

    A coroutine, as every dependency here: FastAPI runs a plain function in its thread
    pool, a thread hop on every request for an attribute read.
    """
    return request.client.host if request.client else None


ClientAddress = Annotated[str | None, Depends(client_address)]


# The caller is looked up in the session the endpoint itself declares, so that a
# request uses one session (and one pooled connection), whichever kind it is.
async def _user_in_read_session(
    session: ReadSessionDep, claims: Claims, client: ClientAddress
) -> User:
    return await users_service.current_user(session=session, claims=claims, client=client)


async def _user_in_write_session(
    session: WriteSessionDep, claims: Claims, client: ClientAddress
) -> User:
    return await users_service.current_user(session=session, claims=claims, client=client)


ReadingUser = Annotated[User, Depends(_user_in_read_session)]
"""The authenticated caller, for an endpoint that declares a ReadSessionDep."""
WritingUser = Annotated[User, Depends(_user_in_write_session)]
"""The authenticated caller, for an endpoint that declares a WriteSessionDep."""

# A failed login must be counted, and a reused refresh token must revoke its family,
# although the answer is a 401: these sessions also commit when the endpoint raises that.
LoginSession = Annotated[
    WriteSession,
    Depends(write_session(commit_on=(InvalidCredentialsError, ReusedGrantError)), scope="function"),
]
"""The write session of the token endpoint: kept when credentials or a reused token are refused."""
RefreshSession = Annotated[
    WriteSession,
    Depends(write_session(commit_on=(RefreshTokenReusedError,)), scope="function"),
]
"""The write session of a token refresh: kept when a reused token revoked its family."""
