"""Reusable field pieces: trimmed non-blank text, NUL-free text, UTC timestamps with `Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)

# PostgreSQL text cannot hold NUL; reject it at the edge instead of failing in the driver.
NUL_FREE_PATTERN = r"^[^\x00]*$"
# At least one character that is neither whitespace nor NUL, and no NUL anywhere.
NON_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
# Pydantic drops `pattern` from the JSON schema of a field that has a before-validator.
NON_BLANK_SCHEMA = {"pattern": NON_BLANK_PATTERN}
# What shows nothing on its own: controls, every Unicode space, and the invisible format
# characters and fillers of the Basic Multilingual Plane (U+200B, U+2060, U+FEFF, U+3164...).
_INVISIBLE = (
    r"\x00-\x20\x7f-\xa0\xad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5\u180b-\u180f"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0"
    r"\ufff9-\ufffb"
)
# At least one visible character, and no NUL anywhere. The server checks exactly this
# expression, so the document and the service agree on every string.
VISIBLE_TEXT_PATTERN = rf"^[^\x00]*[^{_INVISIBLE}][^\x00]*$"
VISIBLE_TEXT_SCHEMA = {"pattern": VISIBLE_TEXT_PATTERN}
# RFC 3339 date-time: `T` separator, seconds, offset `Z` or +hh:mm (no bare timestamps).
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def strip_text(value: object) -> object:
    """Trim surrounding whitespace from strings; other types pass through to strict validation."""
    return value.strip() if isinstance(value, str) else value


def _parse_rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        # Pydantic turns only ValueError into a validation error; numbers are no timestamps here.
        raise ValueError("expected an RFC 3339 date-time string")  # noqa: TRY004
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2026-12-01T17:00:00Z")
    fraction = match.group(1) or ""
    # Python keeps microseconds; RFC 3339 allows any number of fraction digits.
    text = value[: match.start(1)] + fraction[:7] if fraction else value[: match.start(2)]
    try:
        return datetime.fromisoformat(text.upper() + match.group(2).upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("the date-time does not exist (check month, day and time)") from None


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is out of the supported range") from None


def _format_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


DATE_TIME_SCHEMA = {"type": "string", "format": "date-time", "examples": ["2026-12-01T17:00:00Z"]}

UtcTimestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_parse_rfc3339),
    AfterValidator(_to_utc),
    PlainSerializer(_format_utc, return_type=str, when_used="json"),
    WithJsonSchema(DATE_TIME_SCHEMA),
]
"""An RFC 3339 date-time with an offset (naive values rejected), returned in UTC with `Z`."""


class StrictInput(BaseModel):
    """Base of request bodies: unknown fields and loose types (`true` as a number) are rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", regex_engine="python-re")
