"""The tests' own view of processes: live children only (gunicorn has not reaped the dead)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import children_of


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[0]


def test_a_live_child_counts_and_an_unreaped_dead_one_does_not() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    quitter = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while _state(quitter.pid) != "Z":  # exited, not yet waited for
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.05)
        children = children_of(os.getpid())
        assert sleeper.pid in children
        assert quitter.pid not in children
    finally:
        sleeper.kill()
        sleeper.wait()
        quitter.wait()
    assert sleeper.pid not in children_of(os.getpid())
