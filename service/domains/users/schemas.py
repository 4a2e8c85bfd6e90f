"""Request and response bodies of the users and auth endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from service.core.validation import (
    NON_BLANK_PATTERN,
    VISIBLE_TEXT_PATTERN,
    VISIBLE_TEXT_SCHEMA,
    StrictInput,
    UtcTimestamp,
    strip_text,
)
from service.domains.users.emails import canonical_email
from service.domains.users.models import DISPLAY_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH
from service.domains.users.passwords import check_password

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128


Email = Annotated[
    str,
    BeforeValidator(strip_text),
    Field(
        min_length=3,
        max_length=EMAIL_MAX_LENGTH,
        json_schema_extra={"format": "email"},
        examples=["ada@example.com"],
    ),
    AfterValidator(canonical_email),
]
DisplayName = Annotated[
    str,
    BeforeValidator(strip_text),
    Field(
        min_length=1,
        max_length=DISPLAY_NAME_MAX_LENGTH,
        pattern=VISIBLE_TEXT_PATTERN,
        json_schema_extra=VISIBLE_TEXT_SCHEMA,
        examples=["Ada Lovelace"],
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        # Checked by check_password (a clearer message than a pattern mismatch).
        json_schema_extra={
            "format": "password",
            "writeOnly": True,
            "pattern": NON_BLANK_PATTERN,
        },
        description=(
            "12 to 128 characters, not only whitespace, and not one of the 20,000 most "
            "common passwords (compared ignoring case)."
        ),
        examples=["correct horse battery staple"],
    ),
    AfterValidator(check_password),
]


class UserCreate(StrictInput):
    """Registration: e-mail (trimmed, unique case-insensitively), password, optional name."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery staple",
                    "display_name": "Ada Lovelace",
                }
            ]
        }
    )

    email: Email
    password: Password
    display_name: DisplayName | None = None


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c2a9e-8d4b-4c1e-9a3f-2b7d5e0c1a44",
                    "email": "ada@example.com",
                    "display_name": "Ada Lovelace",
                    "created_at": "2026-11-22T09:30:12.123456Z",
                }
            ]
        },
    )

    id: uuid.UUID = Field(examples=["6f1c2a9e-8d4b-4c1e-9a3f-2b7d5e0c1a44"])
    email: str = Field(examples=["ada@example.com"])
    display_name: str | None = Field(examples=["Ada Lovelace"])
    created_at: UtcTimestamp


class TokenPair(BaseModel):
    """An access token (bearer JWT) and the refresh token that can renew it once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi...",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "Zr2q0vV6m1xQy3N2W8p5s7u9a0b1c2d3e4f5g6h7i8j",
                }
            ]
        }
    )

    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi..."])
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Access token lifetime in seconds.", examples=[900])
    refresh_token: str = Field(examples=["Zr2q0vV6m1xQy3N2W8p5s7u9a0b1c2d3e4f5g6h7i8j"])


class RefreshRequest(StrictInput):
    """A refresh token to exchange for a new token pair."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refresh_token": "Zr2q0vV6m1xQy3N2W8p5s7u9a0b1c2d3e4f5g6h7i8j"}]
        }
    )

    refresh_token: str = Field(min_length=1, max_length=512)
