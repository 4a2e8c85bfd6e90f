"""`tasks-api migrate` run several times at once, and against a database that is away."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from service.db.migrate import head_revision
from tests.resilience.support import resilience_settings, through
from tests.support.proxy import Mode, StallingProxy

pytestmark = pytest.mark.postgres

CONCURRENT_RUNS = 3


def start_migrate(database_url: URL, cwd: Path, *args: str) -> subprocess.Popen[str]:
    """Start `python -m service migrate` as its own process."""
    env = resilience_settings(database_url, LOG_FORMAT="json")
    return subprocess.Popen(
        [sys.executable, "-m", "service", "migrate", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_three_concurrent_migrations_on_an_empty_database_all_succeed(
    fresh_database: URL, tmp_path: Path
) -> None:
    runs = [start_migrate(fresh_database, tmp_path) for _ in range(CONCURRENT_RUNS)]
    outputs = [run.communicate(timeout=60) for run in runs]
    codes = [run.returncode for run in runs]
    assert codes == [0] * CONCURRENT_RUNS, outputs

    # Log lines go to stdout too; the command's own answer is the last line.
    stdout = [out.strip().splitlines()[-1] for out, _ in outputs]
    # The advisory lock serialises them: one applies the revisions, the others find head.
    assert sum(line.startswith("migrated from empty to ") for line in stdout) == 1, stdout
    assert sum(line.startswith("already at head ") for line in stdout) == CONCURRENT_RUNS - 1

    check = start_migrate(fresh_database, tmp_path, "--check")
    out, err = check.communicate(timeout=30)
    assert check.returncode == 0, err
    assert out.strip().splitlines()[-1] == f"database is at head {head_revision()}"


@pytest.mark.parametrize("mode", [Mode.REFUSE, Mode.BLACKHOLE])
async def test_migrate_against_an_unreachable_database_fails_in_bounded_time(
    mode: Mode, fresh_database: URL, tmp_path: Path
) -> None:
    with StallingProxy(fresh_database.host or "127.0.0.1", fresh_database.port or 5432) as proxy:
        proxy.set_mode(mode)
        started = time.monotonic()
        run = start_migrate(through(proxy, fresh_database), tmp_path)
        out, err = run.communicate(timeout=30)
        took = time.monotonic() - started
    assert run.returncode == 1, (out, err)
    assert err.startswith("tasks-api migrate: "), err
    assert "Traceback" not in err
    # Connect timeout is 1 s in resilience_settings; the interpreter start is the rest.
    assert took < 10, f"migrate took {took:.1f} s"
