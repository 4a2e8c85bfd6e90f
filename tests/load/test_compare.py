"""The step-by-step comparison's arithmetic and command line (fast, no servers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.load.compare import Run, cpu_seconds, cpu_seconds_of_stat, parse_args, summarise

TICKS = os.sysconf("SC_CLK_TCK")


def test_cpu_seconds_are_user_plus_system_after_a_name_with_spaces_and_parentheses() -> None:
    # Fields 14 and 15 of proc(5) are utime and stime, in clock ticks.
    fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0"]
    stat = f"4242 (tasks-api: worker (x)) {' '.join(fields)} {3 * TICKS} {TICKS} 0 0 20"
    assert cpu_seconds_of_stat(stat) == pytest.approx(4.0)


def test_cpu_seconds_of_this_process_grow_with_work() -> None:
    before = cpu_seconds([os.getpid()])
    total = 0
    for number in range(3_000_000):
        total += number * number
    assert total > 0
    assert cpu_seconds([os.getpid()]) > before


def run(tree: str, number: int, requests: int, rps: float, cpu: float) -> Run:
    return Run(tree=tree, round=number, requests=requests, rps=rps, cpu_seconds=cpu)


def test_summary_takes_medians_and_ratios_round_by_round() -> None:
    runs = [
        run("a", 1, 1000, 200.0, 2.0),  # 2,000 us per request
        run("b", 1, 1000, 220.0, 1.6),  # 1,600
        run("a", 2, 1000, 100.0, 2.2),  # 2,200: a slow round for both
        run("b", 2, 1000, 110.0, 1.76),  # 1,760
        run("a", 3, 1000, 210.0, 2.1),
        run("b", 3, 1000, 231.0, 1.68),
    ]
    first, second = summarise(runs, ["a", "b"])
    assert first.cpu_ratio == pytest.approx(1.0) and first.rps_ratio == pytest.approx(1.0)
    assert first.cpu_us_per_request == pytest.approx(2100.0)
    assert second.cpu_us_per_request == pytest.approx(1680.0)
    # Every round's ratio is 0.8 and 1.1, whatever the machine did to that round.
    assert second.cpu_ratio == pytest.approx(0.8) and second.rps_ratio == pytest.approx(1.1)


def test_a_run_without_answers_has_no_cost_per_request() -> None:
    with pytest.raises(ValueError, match="answered no request"):
        _ = run("a", 1, 0, 0.0, 1.0).cpu_us_per_request


def test_trees_without_a_common_round_are_not_compared() -> None:
    with pytest.raises(ValueError, match="no round in common"):
        summarise([run("a", 1, 10, 1.0, 1.0), run("b", 2, 10, 1.0, 1.0)], ["a", "b"])


def test_the_command_line_refuses_a_tree_without_a_service(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        parse_args([str(tmp_path)])


def test_the_command_line_refuses_no_rounds() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0", "."])
    assert parse_args(["."]).rounds == 6
