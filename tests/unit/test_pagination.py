"""Signed keyset cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from service.core.pagination import CURSOR_PATTERN, CursorCodec, InvalidCursorError, Position

CODEC = CursorCodec(b"k" * 32)
POSITION = Position(
    created_at=datetime(2026, 11, 22, 9, 30, 12, 123456, tzinfo=UTC), id=uuid.uuid4()
)


def test_round_trip_is_exact_and_matches_the_documented_pattern() -> None:
    import re

    cursor = CODEC.encode(POSITION)

    assert CODEC.decode(cursor) == POSITION
    assert re.fullmatch(CURSOR_PATTERN, cursor)


@pytest.mark.parametrize(
    "cursor",
    ["", "abc", "a.b.c", "!!!.???", "YQ.YQ", "é.é", "x" * 300 + ".y"],
)
def test_malformed_cursors_are_rejected(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        CODEC.decode(cursor)


def test_a_cursor_of_another_key_is_rejected() -> None:
    foreign = CursorCodec(b"other").encode(POSITION)

    with pytest.raises(InvalidCursorError) as raised:
        CODEC.decode(foreign)
    assert raised.value.status == 422
    assert raised.value.code == "invalid_cursor"


def test_a_changed_payload_is_rejected() -> None:
    payload, signature = CODEC.encode(POSITION).split(".")
    other_payload = CODEC.encode(Position(POSITION.created_at, uuid.uuid4())).split(".")[0]

    with pytest.raises(InvalidCursorError):
        CODEC.decode(f"{other_payload}.{signature}")
    assert payload != other_payload
