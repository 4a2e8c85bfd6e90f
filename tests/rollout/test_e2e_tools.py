"""The pieces the e2e workflow runs on kind, run here first: the expand migration and the load.

Both must work with the standard library only (the workflow adds the migration before
installing anything; the load runs in the application image).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.rollout.expand_migration import DRILL_REVISION, script_head, write_expand_migration
from tests.rollout.test_migration_runner import migrate
from tests.support.apps import TEST_JWT_SECRET
from tests.support.databases import url_string
from tests.support.server import PROJECT_ROOT, ServiceProcess, running_service

LOAD = Path(__file__).with_name("e2e_load.py")
VERSIONS = PROJECT_ROOT / "migrations" / "versions"


def test_the_stdlib_head_agrees_with_alembic() -> None:
    assert script_head(VERSIONS) == head_revision()


def test_the_expand_migration_goes_on_top_of_the_head(tmp_path: Path) -> None:
    for script in VERSIONS.glob("*.py"):
        (tmp_path / script.name).write_text(script.read_text())
    written = write_expand_migration(tmp_path)
    assert f'down_revision = "{head_revision()}"' in written.read_text()
    assert script_head(tmp_path) == DRILL_REVISION


def test_two_heads_are_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text(f'revision = "{name}"\ndown_revision = None\n')
    with pytest.raises(ValueError, match="expected one head"):
        script_head(tmp_path)


def test_no_scripts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"found \[\]"):
        script_head(tmp_path)


def _load(
    server: ServiceProcess, stop_file: Path, *args: str, then: Callable[[], None] | None = None
) -> tuple[int, dict[str, object]]:
    """Run the load; once it is sending, run `then`, then let it run 2 s more and stop it."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(LOAD),
            server.base_url,
            "--users",
            "2",
            "--stop-file",
            str(stop_file),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    started = process.stdout.readline()
    assert json.loads(started) == {"started": 2}, process.communicate(timeout=60)
    if then is not None:
        then()
    time.sleep(2)
    stop_file.touch()
    out, err = process.communicate(timeout=120)
    lines = out.strip().splitlines()
    assert lines, err
    return process.returncode, json.loads(lines[-1])


def _kill(server: ServiceProcess) -> None:
    # The whole process group: the gunicorn workers would go on serving without the master.
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(10)


@pytest.fixture
def served(fresh_database: URL) -> Iterator[ServiceProcess]:
    env = {
        "DATABASE_URL": url_string(fresh_database),
        "ENVIRONMENT": "production",
        "JWT_SECRET": TEST_JWT_SECRET,
        "OTEL_SDK_DISABLED": "true",
    }
    assert migrate(env).returncode == 0
    with running_service(env) as server:
        yield server


@pytest.mark.postgres
def test_the_load_passes_on_a_healthy_service(served: ServiceProcess, tmp_path: Path) -> None:
    code, summary = _load(served, tmp_path / "stop", "--min-requests", "10")
    assert code == 0, summary
    assert summary["passed"] is True
    assert summary["failures"] == 0
    assert int(str(summary["requests"])) >= 10


@pytest.mark.postgres
def test_the_load_fails_when_the_service_goes_away(served: ServiceProcess, tmp_path: Path) -> None:
    code, summary = _load(
        served, tmp_path / "stop", "--min-requests", "1", then=lambda: _kill(served)
    )
    assert code == 1
    assert int(str(summary["failures"])) > 0
    assert summary["passed"] is False


@pytest.mark.postgres
def test_the_load_fails_when_it_proves_nothing(served: ServiceProcess, tmp_path: Path) -> None:
    code, summary = _load(served, tmp_path / "stop", "--min-requests", "1000000")
    assert code == 1
    assert summary["failures"] == 0
    assert summary["passed"] is False
