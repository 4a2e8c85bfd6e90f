"""The promtool fixture skips without promtool, or fails when tools are required."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.observability.conftest import find_tool


def test_find_tool_returns_the_path_of_an_installed_tool() -> None:
    assert find_tool("promtool", which=lambda _: "/opt/bin/promtool") == "/opt/bin/promtool"


def test_find_tool_skips_when_the_tool_is_missing() -> None:
    with pytest.raises(pytest.skip.Exception, match="not on PATH"):
        find_tool("promtool", env={}, which=lambda _: None)


def test_find_tool_fails_when_tools_are_required() -> None:
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_TOOLS=1"):
        find_tool("promtool", env={"REQUIRE_TOOLS": "1"}, which=lambda _: None)


def test_find_tool_still_skips_when_require_tools_is_not_1() -> None:
    with pytest.raises(pytest.skip.Exception):
        find_tool("promtool", env={"REQUIRE_TOOLS": "0"}, which=lambda _: None)


def test_the_real_promtool_is_found_on_path() -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed here")
    assert Path(find_tool("promtool")).name == "promtool"
