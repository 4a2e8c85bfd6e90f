"""Errors of the users domain; each becomes problem+json with its code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core.errors import AppError
from service.core.security import InvalidTokenError
from service.domains.users.oauth import OAuthError


class EmailTakenError(AppError):
    """The e-mail address already belongs to a user."""

    status = 409
    code = "email_taken"
    title = "E-mail Taken"


class InvalidCredentialsError(OAuthError):
    """Unknown e-mail or wrong password; both give the same answer (RFC 6749 `invalid_grant`)."""

    status = 400
    code = "invalid_credentials"
    title = "Invalid Credentials"
    error = "invalid_grant"

    def __init__(self, headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__("The e-mail or password is incorrect.", headers=headers, **kwargs)


class TooManyAttemptsError(OAuthError):
    """Too many failed logins for this e-mail or from this address within the window."""

    status = 429
    code = "too_many_attempts"
    title = "Too Many Attempts"
    error = "invalid_grant"

    def __init__(self, retry_after_seconds: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(
            f"Too many failed logins; retry in {retry_after_seconds} s.",
            headers={**(headers or {}), "Retry-After": str(retry_after_seconds)},
            extra={"retry_after": retry_after_seconds},
        )


class TooManyRegistrationsError(AppError):
    """Too many registrations from this client address within the window."""

    status = 429
    code = "too_many_registrations"
    title = "Too Many Registrations"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"Too many registrations from this address; retry in {retry_after_seconds} s.",
            headers={"Retry-After": str(retry_after_seconds)},
            extra={"retry_after": retry_after_seconds},
        )


class RefreshTokenReusedError(InvalidTokenError):
    """A refresh token was presented a second time; its whole family is now revoked."""

    def __init__(self) -> None:
        super().__init__("The refresh token was already used; every token of its login is revoked.")


class UserGoneError(InvalidTokenError):
    """The token names a user that no longer exists."""

    def __init__(self) -> None:
        super().__init__("The access token names no existing user.")


class TokenRevokedError(InvalidTokenError):
    """The access token was issued before its user's tokens were revoked (refresh-token reuse)."""

    def __init__(self) -> None:
        super().__init__("The access token was revoked; log in again or refresh.")
