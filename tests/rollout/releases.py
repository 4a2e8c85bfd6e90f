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

from tests.support.server import PROJECT_ROOT

RELEASE_FILES = ("service", "migrations", "alembic.ini")
# What `uv sync` needs to install a commit's locked dependencies.
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md")
DRILL_REVISION = "drill_expand"
DRILL_COLUMN = "drill_note"
DRILL_TABLE = "drill_audit"

_EXPAND_ONLY_MIGRATION = '''"""Test-only expand step: a nullable column and a new table.

Revision ID: {revision}
Revises: {down_revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("{column}", sa.Text(), nullable=True))
    op.create_table(
        "{table}",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("{table}")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("{column}")
'''


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


def add_expand_migration(release: Path, down_revision: str) -> str:
    """Add the test-only expand migration on top of `down_revision`; returns its revision."""
    text = _EXPAND_ONLY_MIGRATION.format(
        revision=DRILL_REVISION,
        down_revision=down_revision,
        column=DRILL_COLUMN,
        table=DRILL_TABLE,
    )
    (release / "migrations" / "versions" / f"9999_{DRILL_REVISION}.py").write_text(text)
    return DRILL_REVISION


def next_release(target: Path, current_head: str) -> Path:
    """This tree plus one expand-only migration: the release an upgrade brings."""
    release = copy_release(PROJECT_ROOT, target)
    add_expand_migration(release, current_head)
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
