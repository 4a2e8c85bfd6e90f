"""Fixtures of the observability tests: the promtool binary.

promtool comes with the Prometheus Debian package (or any Prometheus release).
Without it the promtool tests are skipped, unless REQUIRE_TOOLS=1, which turns
a missing tool into a failure (CI sets it, so a missing install step cannot
pass silently).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping

import pytest


def find_tool(
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> str:
    """Return the path of executable ``name``; skip the test if it is missing.

    With REQUIRE_TOOLS=1 in ``env`` (default: the process environment) a missing
    tool fails the test instead.
    """
    environment = os.environ if env is None else env
    path = which(name)
    if path is not None:
        return path
    if environment.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is not on PATH and REQUIRE_TOOLS=1", pytrace=False)
    pytest.skip(
        f"{name} is not on PATH (install the prometheus package); REQUIRE_TOOLS=1 fails instead"
    )


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of the promtool binary."""
    return find_tool("promtool")
