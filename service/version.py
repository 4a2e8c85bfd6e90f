"""The running version, from the git tag the package was built from."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version


def _resolve() -> str:
    try:
        from service._version import __version__  # written by hatch-vcs at build time

        return str(__version__)
    except ImportError:
        pass
    try:
        return _distribution_version("tasks-api")
    except PackageNotFoundError:
        return "0.0.0+unknown"


VERSION = _resolve()
