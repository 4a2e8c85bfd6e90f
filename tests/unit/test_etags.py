"""Task ETags and the If-Match / If-None-Match parsing."""

from __future__ import annotations

import uuid

import pytest

from service.domains.tasks.etags import (
    MAX_ENTITY_TAGS,
    TooManyEntityTagsError,
    parse_precondition,
    task_etag,
)

TASK = uuid.UUID("0b7e4c52-1f7a-4a8e-9a3c-5d2f1e6b7c80")


def test_etag_is_strong_quoted_and_changes_with_the_version() -> None:
    assert task_etag(TASK, 3) == '"0b7e4c521f7a4a8e9a3c5d2f1e6b7c80-v3"'
    assert task_etag(TASK, 3) != task_etag(TASK, 4)


def test_absent_header_is_no_precondition() -> None:
    assert parse_precondition(None) is None


def test_star_matches_any_version() -> None:
    precondition = parse_precondition(" * ")

    assert precondition is not None and precondition.any_version


def test_lists_name_versions_of_this_task_only() -> None:
    other = uuid.uuid4()
    header = f"{task_etag(TASK, 2)}, W/{task_etag(TASK, 5)}, {task_etag(other, 9)}"

    precondition = parse_precondition(header)

    assert precondition is not None
    assert precondition.versions_of(TASK, strong_only=True) == {2}
    assert precondition.versions_of(TASK, strong_only=False) == {2, 5}


def test_garbage_matches_nothing() -> None:
    for header in ("", "abc", '"unterminated', f"{task_etag(TASK, 1)} junk"):
        precondition = parse_precondition(header)
        assert precondition is not None, header
        assert not precondition.any_version
        assert precondition.versions_of(TASK, strong_only=False) == set(), header


def test_at_most_max_entity_tags_are_accepted() -> None:
    listed = ", ".join(task_etag(TASK, version) for version in range(1, MAX_ENTITY_TAGS + 1))
    precondition = parse_precondition(listed)
    assert precondition is not None
    assert precondition.versions_of(TASK, strong_only=True) == set(range(1, MAX_ENTITY_TAGS + 1))
    with pytest.raises(TooManyEntityTagsError):
        parse_precondition(f"{listed}, {task_etag(TASK, 99)}")
    with pytest.raises(TooManyEntityTagsError):
        parse_precondition(", ".join(['W/"x"'] * 33_000))
