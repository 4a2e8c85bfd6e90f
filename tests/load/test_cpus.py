"""The overload scenario's CPU split, on real processes of this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.load.cpus import Split, pin_self, pinned_tree, process_tree, split_cpus

AFFINITY = "import os; print(sorted(os.sched_getaffinity(0)))"
# A parent that starts a child and waits: a process tree like gunicorn's master and workers.
TREE = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
    "print(child.pid, flush=True); time.sleep(30)"
)


def test_split_gives_the_clients_the_last_cpu() -> None:
    assert split_cpus([0, 1]) == Split(clients=(1,), service=(0,))
    assert split_cpus([3, 0, 2, 1]) == Split(clients=(3,), service=(0, 1, 2))


def test_no_split_on_one_cpu_or_none() -> None:
    assert split_cpus([0]) == Split()
    assert split_cpus([]) == Split()
    assert pin_self(()) is None


def test_a_pinned_child_runs_on_its_cpu_only() -> None:
    cpu = min(os.sched_getaffinity(0))
    pinned = subprocess.run(
        [sys.executable, "-c", AFFINITY],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=pin_self([cpu]),
    )
    assert pinned.stdout.strip() == f"[{cpu}]"
    free = subprocess.run(
        [sys.executable, "-c", AFFINITY], capture_output=True, text=True, check=True
    )
    assert free.stdout.strip() == str(sorted(os.sched_getaffinity(0)))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs to show")
def test_a_process_tree_is_pinned_meanwhile_and_restored_after() -> None:
    everywhere = os.sched_getaffinity(0)
    cpu = min(everywhere)
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while child not in process_tree(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_tree(parent.pid) == [parent.pid, child]
        with pinned_tree(parent.pid, [cpu]) as count:
            assert count >= 2
            assert os.sched_getaffinity(parent.pid) == os.sched_getaffinity(child) == {cpu}
        assert os.sched_getaffinity(parent.pid) == os.sched_getaffinity(child) == everywhere
    finally:
        parent.kill()
        parent.wait()


def test_pinning_nothing_or_a_gone_process_changes_nothing() -> None:
    with pinned_tree(None, [0]) as count:
        assert count == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pinned_tree(gone.pid, [0]) as count:
        assert count == 0
    with pinned_tree(os.getpid(), []) as count:
        assert count == 0
    assert process_tree(gone.pid) == [gone.pid]
