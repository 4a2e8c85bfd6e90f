"""Releases of tasks-api as separate source trees, the way a rollout meets them.

A release is a directory holding `service/`, `migrations/` and `alembic.ini`;
`python -m service` run with that directory as its working directory imports
that tree's code (the working directory comes first on sys.path), so two
releases can serve one database side by side:

- `next_release`: this tree plus one expand-only migration (a nullable column
  and a new table), standing for the release that a `helm upgrade` brings;
- `tree_of_commit`: the files of an earlier commit (`git archive`), standing
  for the release that is still running, or that a `helm rollback` restores;
  it runs on its own locked dependencies (`locked_environment`).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from sqlalchemy.engine import URL

from tests.rollout.expand_migration import write_expand_migration
from tests.support.apps import TEST_JWT_SECRET
from tests.support.databases import url_string
from tests.support.server import PROJECT_ROOT

RELEASE_FILES = ("service", "migrations", "alembic.ini")
# What `uv sync` needs to install a commit's locked dependencies.
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md")


def production_env(database_url: URL, **overrides: str) -> dict[str, str]:
    """Settings of a release as the chart renders them (production, no telemetry export)."""
    return {
        "ENVIRONMENT": "production",
        "DATABASE_URL": url_string(database_url),
        "JWT_SECRET": TEST_JWT_SECRET,
        "OTEL_SDK_DISABLED": "true",
        **overrides,
    }


def _ignore_caches(_: str, names: list[str]) -> set[str]:
    return {name for name in names if name in {"__pycache__", "_alembic"}}


def copy_release(source: Path, target: Path) -> Path:
    """Copy the release files of a source tree into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_FILES:
        origin = source / name
        if origin.is_dir():
            shutil.copytree(origin, target / name, ignore=_ignore_caches)
        else:
            shutil.copy2(origin, target / name)
    return target


def next_release(target: Path, current_head: str) -> Path:
    """This tree plus one expand-only migration: the release an upgrade brings."""
    release = copy_release(PROJECT_ROOT, target)
    write_expand_migration(release / "migrations" / "versions", current_head)
    return release


def git(*args: str) -> str:
    """Run git in the project root and return its output; raises when git fails."""
    completed = subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def git_history_available() -> str | None:
    """None when the checkout has the history these tests need, else the reason why not."""
    if shutil.which("git") is None:
        return "git is not installed"
    try:
        git("rev-parse", "--verify", "HEAD~1^{commit}")
    except (subprocess.CalledProcessError, OSError) as error:
        return f"no parent commit in this checkout ({type(error).__name__})"
    return None


def tree_of_commit(commit: str, target: Path) -> Path:
    """The release files of `commit`, extracted into `target` (no worktree is registered)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, *RELEASE_FILES, *PROJECT_FILES],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def locked_environment(tree: Path, venv: Path) -> Path:
    """A virtual environment with the dependencies locked in `tree` (not the project itself).

    An earlier release must run on its own dependencies, as its image does: the current
    lock may have dropped or changed a package that the earlier code imports.
    """
    environment = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    environment.pop("VIRTUAL_ENV", None)
    subprocess.run(
        ["uv", "sync", "--frozen", "--no-dev", "--no-install-project", "--quiet"],
        cwd=tree,
        env=environment,
        check=True,
        timeout=600,
        capture_output=True,
    )
    return venv / "bin" / "python"
