"""Strong ETags of tasks and the If-Match / If-None-Match comparisons (RFC 9110)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from service.core.errors import AppError

# One entity-tag: optional weakness marker, then a quoted opaque value.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
_TASK_TAG = re.compile(r"^([0-9a-f]{32})-v([0-9]{1,9})$")
# A client names the versions it holds: a few. Every listed version becomes a bind
# parameter of the write, so the list is bounded well below any driver's limit.
MAX_ENTITY_TAGS = 32


class TooManyEntityTagsError(AppError):
    """An If-Match / If-None-Match header lists more entity-tags than the service accepts."""

    status = 400
    code = "too_many_entity_tags"
    title = "Too Many Entity Tags"


def task_etag(task_id: uuid.UUID, version: int) -> str:
    """The strong ETag of a task version, quoted, e.g. `"<id hex>-v3"`."""
    return f'"{task_id.hex}-v{version}"'


@dataclass(frozen=True)
class Precondition:
    """A parsed If-Match / If-None-Match header."""

    any_version: bool
    # (opaque value, weak) of each listed entity-tag
    tags: tuple[tuple[str, bool], ...]

    def versions_of(self, task_id: uuid.UUID, *, strong_only: bool) -> set[int]:
        """The versions of this task that the listed tags name."""
        versions = set()
        for opaque, weak in self.tags:
            if weak and strong_only:
                continue  # If-Match uses the strong comparison: weak tags never match
            match = _TASK_TAG.fullmatch(opaque)
            if match and match.group(1) == task_id.hex:
                versions.add(int(match.group(2)))
        return versions


def parse_precondition(header: str | None) -> Precondition | None:
    """Parse an If-Match / If-None-Match value; None when absent, `*` matches any version.

    A value that is not a list of entity-tags matches nothing; more than
    MAX_ENTITY_TAGS tags raise TooManyEntityTagsError (answered 400).
    """
    if header is None:
        return None
    if header.strip() == "*":
        return Precondition(any_version=True, tags=())
    tags: list[tuple[str, bool]] = []
    position = 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None or match.end() == position:
            return Precondition(any_version=False, tags=())
        if len(tags) == MAX_ENTITY_TAGS:
            raise TooManyEntityTagsError(
                f"A precondition header may list at most {MAX_ENTITY_TAGS} entity-tags."
            )
        tags.append((match.group(2), match.group(1) is not None))
        position = match.end()
    return Precondition(any_version=False, tags=tuple(tags))
