"""The grants of the token endpoint: a password login or a refresh, with RFC 6749 errors."""

from __future__ import annotations

from service.config import Settings
from service.core.security import InvalidTokenError
from service.db.session import WriteSession
from service.domains.users import service as users_service
from service.domains.users.errors import RefreshTokenReusedError
from service.domains.users.oauth import InvalidGrantError, ReusedGrantError
from service.domains.users.token_request import TokenRequest


async def grant_tokens(
    *, session: WriteSession, settings: Settings, grant: TokenRequest, client: str | None
) -> users_service.Login:
    """A token pair (and the rate-limit fields of the answer) for a password or refresh grant."""
    if grant.grant_type == "password":
        return await users_service.issue_tokens(
            session=session,
            settings=settings,
            username=grant.username,
            password=grant.password,
            client=client,
        )
    try:
        tokens = await users_service.refresh_tokens(
            session=session, settings=settings, refresh_token=grant.refresh_token, client=client
        )
    except RefreshTokenReusedError as reused:
        raise ReusedGrantError(reused.detail) from None
    except InvalidTokenError as invalid:
        raise InvalidGrantError(invalid.detail) from None
    return users_service.Login(tokens, {})
