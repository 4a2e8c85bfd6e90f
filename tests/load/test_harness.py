"""The benchmark harness itself (fast, no servers): parsing, aggregation, targets, output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load import bench
from tests.load.loadgen import LoadGeneratorError, RunResult, parse_result
from tests.load.report import build_report, facts_of, format_table, write_chart

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  1 threads and 16 connections
BENCH_RESULT {"requests":12000,"duration_us":10000000,"bytes":1,"errors":{"connect":0,\
"read":1,"write":0,"status":2,"timeout":0},"latency_us":{"p50":2000,"p95":5000,\
"p99":9000,"mean":2500.0,"max":20000}}
"""


def run(target: str, rps: float, p99_ms: float, scenario: str = "get") -> RunResult:
    return RunResult(
        target=target,
        scenario=scenario,
        round=1,
        requests=int(rps * 10),
        seconds=10.0,
        errors=0,
        error_kinds={},
        p50_ms=p99_ms / 4,
        p95_ms=p99_ms / 2,
        p99_ms=p99_ms,
        mean_ms=p99_ms / 3,
        max_ms=p99_ms * 2,
    )


FACTS = {
    "service": facts_of(
        cold_start=1.5, workers=2, memory=[(100 << 20, 160 << 20, 80 << 20)] * 2, restarts=0
    ),
    "baseline": facts_of(
        cold_start=0.9, workers=2, memory=[(50 << 20, 50 << 20, 30 << 20)] * 2, restarts=0
    ),
}
SETTINGS = {"workers": 2, "connections": 16, "duration": 10.0, "rounds": 1}


def test_parse_result_reads_the_script_line() -> None:
    result = parse_result(WRK_OUTPUT, target="service", scenario="get", round_number=1)
    assert result.requests == 12000
    assert result.rps == pytest.approx(1200.0)
    assert result.errors == 3
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (2.0, 5.0, 9.0)


def test_parse_result_without_the_line_is_an_error() -> None:
    with pytest.raises(LoadGeneratorError, match="no result"):
        parse_result("wrk: connection refused\n", target="s", scenario="get", round_number=1)


def test_report_ratios_and_targets() -> None:
    results = [run("service", 900, 12.0), run("baseline", 1000, 10.0)]
    report = build_report(results, FACTS, SETTINGS)
    (row,) = report["scenarios"]
    assert row["ratio"]["rps"] == pytest.approx(0.9)
    assert row["ratio"]["p99"] == pytest.approx(1.2)
    assert report["all_targets_met"] is True
    assert "| get | **service/baseline** | 0.90 |" in format_table(report)


def test_report_flags_each_missed_target() -> None:
    results = [run("service", 500, 30.0), run("baseline", 1000, 10.0)]
    slow = facts_of(
        cold_start=4.0, workers=2, memory=[(200 << 20, 200 << 20, 150 << 20)], restarts=1
    )
    report = build_report(results, FACTS | {"service": slow}, SETTINGS)
    assert report["all_targets_met"] is False
    assert [check["passed"] for check in report["checks"]] == [False, False, False, False]
    assert format_table(report).count("MISSED") == 4


def test_report_needs_both_targets_of_a_scenario() -> None:
    with pytest.raises(ValueError, match="no runs of get on baseline"):
        build_report([run("service", 900, 12.0)], FACTS, SETTINGS)


def test_chart_is_a_png(tmp_path: Path) -> None:
    results = [run("service", 900, 12.0), run("baseline", 1000, 10.0)]
    results += [run("service", 400, 30.0, "list"), run("baseline", 600, 20.0, "list")]
    path = tmp_path / "bench.png"
    write_chart(build_report(results, FACTS, SETTINGS), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_wrk_exits_2_and_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "find_wrk", lambda: None)
    assert bench.main(["--duration", "1"]) == 2
    assert "apt-get install -y wrk" in capsys.readouterr().err


def test_bench_rejects_unknown_scenarios() -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--scenarios", "get,delete"])
    assert exit_info.value.code == 2
