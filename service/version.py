"""The running version: the installed distribution's, which hatch-vcs takes from git tags."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version


def _resolve() -> str:
    # Read from the installed metadata only: a version file in the source tree would be
    # rewritten by any later wheel build of the same checkout.
    try:
        return _distribution_version("tasks-api")
    except PackageNotFoundError:
        return "0.0.0+unknown"


VERSION = _resolve()
