"""Tables of the users domain: users, refresh tokens, failed login and registration attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import UtcDateTime, same_as_created_at, utcnow

EMAIL_MAX_LENGTH = 254
DISPLAY_NAME_MAX_LENGTH = 100
CLIENT_ADDRESS_MAX_LENGTH = 64


class User(Base):
    """A registered user; `email_normalized` (lower case) makes e-mail unique case-insensitively."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    email_normalized: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=same_as_created_at, onupdate=utcnow
    )
    # Access tokens carry the version they were issued under; raising it revokes them all.
    # The server default lets a release that does not know the column insert users.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RefreshToken(Base):
    """One refresh token, stored as its SHA-256; tokens rotated from one login share a family."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index(None, "user_id"), Index(None, "expires_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("app_user.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """A failed (or still running) login for an e-mail from a client address.

    The login limits count these per window: per e-mail and address, per address,
    and per e-mail from any address.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index(None, "email_normalized", "attempted_at"),
        Index(None, "attempted_at"),
        Index(None, "client_address", "attempted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email_normalized: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    # Empty for rows written before addresses were recorded.
    client_address: Mapped[str] = mapped_column(
        String(CLIENT_ADDRESS_MAX_LENGTH), default="", server_default=""
    )
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RegistrationAttempt(Base):
    """A registration from a client address, whatever its answer (201 or 409).

    The registration limit counts these per address within its window; no e-mail is
    kept, the address alone is what the limit needs.
    """

    __tablename__ = "registration_attempt"
    __table_args__ = (
        Index(None, "client_address", "attempted_at"),
        Index(None, "attempted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_address: Mapped[str] = mapped_column(String(CLIENT_ADDRESS_MAX_LENGTH))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
