"""The previous commit's code keeps serving on the schema this commit's migrations produce.

During a rolling upgrade the old pods run on the new schema, and `helm rollback`
runs the old code on it for good: every migration must be an expand step the
previous release tolerates. This guards each real migration of the repository,
not only a synthetic one: the parent commit's tree, on its own locked
dependencies, serves a database migrated by this tree, and a fixed API scenario
passes against it (and, as a control, against this tree's code).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.chart.tools import require_tool
from tests.rollout.releases import (
    git,
    git_history_available,
    locked_environment,
    next_release,
    production_env,
    tree_of_commit,
)
from tests.rollout.scenario import run_api_scenario
from tests.support.server import PROJECT_ROOT, run_command, running_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _env(database_url: URL) -> dict[str, str]:
    return production_env(database_url, WEB_CONCURRENCY="1")


def _migrate(env: dict[str, str], cwd: Path = PROJECT_ROOT) -> None:
    completed = run_command("migrate", env=env, cwd=cwd)
    assert completed.returncode == 0, completed.stderr


@pytest.fixture(scope="module")
def parent_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The parent commit's release files and the Python of its locked environment."""
    require_tool("uv")
    missing = git_history_available()
    if missing is not None:
        # A shallow or exported checkout; CI clones the whole history.
        pytest.skip(f"needs the parent commit: {missing}")
    parent = git("rev-parse", "HEAD~1")
    workdir = tmp_path_factory.mktemp("parent-release")
    tree = tree_of_commit(parent, workdir / "tree")
    python = locked_environment(tree, workdir / "venv")
    return tree, python


def test_parent_commit_serves_the_schema_of_this_commit(
    parent_release: tuple[Path, Path], fresh_database: URL
) -> None:
    tree, python = parent_release
    env = _env(fresh_database)
    _migrate(env)
    with running_service(env, cwd=tree, python=python) as old_code:
        run_api_scenario(old_code.base_url)


def test_this_commit_passes_the_same_scenario(fresh_database: URL) -> None:
    env = _env(fresh_database)
    _migrate(env)
    with running_service(env) as current_code:
        run_api_scenario(current_code.base_url)


def test_the_scenario_catches_a_contract_step(fresh_database: URL, tmp_path: Path) -> None:
    """A migration renaming a column that released code reads makes the scenario fail."""
    head = head_revision()
    assert head is not None
    breaking = next_release(tmp_path / "breaking", head)
    migration = next(breaking.glob("migrations/versions/9999_*.py"))
    migration.write_text(
        migration.read_text().replace(
            'batch.add_column(sa.Column("drill_note", sa.Text(), nullable=True))',
            'batch.alter_column("title", new_column_name="headline")',
        )
    )
    env = _env(fresh_database)
    _migrate(env, cwd=breaking)
    # This tree's code on the broken schema: ready (the schema is ahead), but not working.
    with running_service(env) as released_code, pytest.raises(AssertionError, match="create"):
        run_api_scenario(released_code.base_url)
