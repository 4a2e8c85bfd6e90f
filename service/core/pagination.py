"""Keyset pagination: opaque, signed cursors that name the last row of a page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.core.errors import AppError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 256
# The shape of every cursor: base64url payload, a dot, base64url signature.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SIGNATURE_BYTES = 16


class InvalidCursorError(AppError):
    """A cursor that this service did not issue, or that was altered."""

    status = 422
    code = "invalid_cursor"
    title = "Invalid Cursor"


@dataclass(frozen=True)
class Position:
    """Where a page ended: the sort key (created_at, id) of its last row."""

    created_at: datetime
    id: uuid.UUID


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


class CursorCodec:
    """Encodes positions as `<payload>.<signature>`, both base64url, signed with HMAC-SHA256."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, position: Position) -> str:
        """The opaque cursor for a position."""
        micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
        payload = f"{micros}:{position.id.hex}".encode("ascii")
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str) -> Position:
        """The position a cursor names; InvalidCursorError when it is malformed or tampered."""
        invalid = InvalidCursorError("The cursor is malformed or was not issued by this service.")
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise invalid
        encoded_payload, encoded_signature = cursor.split(".")
        try:
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise invalid from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        try:
            micros_text, id_hex = payload.decode("ascii").split(":")
            created_at = _EPOCH + timedelta(microseconds=int(micros_text))
            return Position(created_at=created_at, id=uuid.UUID(hex=id_hex))
        except (ValueError, OverflowError):
            raise invalid from None
