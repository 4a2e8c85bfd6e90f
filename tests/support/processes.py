"""Processes as the tests see them in /proc (a gunicorn master and its workers)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path


def stat_fields(stat: str) -> list[str]:
    """The fields of a /proc/<pid>/stat text after the command name (state first).

    The command name may hold spaces and parentheses: the fields start after the last ')'.
    """
    return stat[stat.rindex(")") + 2 :].split()


def children_of(pid: int) -> set[int]:
    """The live direct children of a process; an exited child not yet reaped does not count."""
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            state, parent = stat_fields((entry / "stat").read_text())[:2]
            if int(parent) == pid and state != "Z":
                children.add(int(entry.name))
    return children


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM a helper process (a Prometheus, a PgBouncer) and reap it; SIGKILL if it lingers."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
