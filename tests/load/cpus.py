"""CPU affinity for the overload scenario: the clients on a core of their own.

On a cluster, a service's clients run on other machines; here they share two
cores with it, and a generator offering four times the sustainable rate takes
CPU the service would otherwise spend on answers. The overload scenario
therefore pins its clients (wrk's peak run and the open-loop generator) to the
last CPU and the service's processes to the others, for both measurements
alike, so that the ratio of goodput to peak is the service's own. PostgreSQL is
left where the system started it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import children_of


@dataclass(frozen=True)
class Split:
    """Which CPUs the clients get and which the service gets; empty: no pinning."""

    clients: tuple[int, ...] = ()
    service: tuple[int, ...] = ()


def split_cpus(available: Sequence[int] | None = None) -> Split:
    """The last CPU for the clients, the rest for the service; no split on one CPU."""
    cpus = sorted(os.sched_getaffinity(0) if available is None else available)
    if len(cpus) < 2:
        return Split()
    return Split(clients=(cpus[-1],), service=tuple(cpus[:-1]))


def pin_self(cpus: Sequence[int]) -> Callable[[], None] | None:
    """A `preexec_fn` that pins a child process to `cpus`; None when nothing is pinned."""
    if not cpus:
        return None
    chosen = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, chosen)

    return pin


def process_tree(pid: int) -> list[int]:
    """A process and all its live descendants (gunicorn's master and workers), parents first."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue += sorted(children_of(current))
    return found


def _threads(pid: int, proc: Path = Path("/proc")) -> list[int]:
    try:
        return [int(entry.name) for entry in (proc / str(pid) / "task").iterdir()]
    except OSError:
        return []


@contextlib.contextmanager
def pinned_tree(pid: int | None, cpus: Sequence[int]) -> Iterator[int]:
    """Pin every thread of a process tree to `cpus` meanwhile; yields how many were pinned."""
    if pid is None or not cpus:
        yield 0
        return
    before = os.sched_getaffinity(0)
    threads = [tid for member in process_tree(pid) for tid in _threads(member)]
    pinned = []
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, set(cpus))
            pinned.append(tid)
    try:
        yield len(pinned)
    finally:
        for tid in pinned:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, before)
