"""The benchmark harness itself (fast, no servers): parsing, aggregation, output, command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.load import bench, profile
from tests.load.chart import write_chart
from tests.load.checks import make_check
from tests.load.loadgen import LoadGeneratorError, RunResult, parse_result
from tests.load.report import build_report, facts_of, format_table, summarise
from tests.load.sink import OtlpSink
from tests.load.targets import bare_target, instrumented_target, service_target
from tests.support.server import PROJECT_ROOT

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  1 threads and 16 connections
BENCH_RESULT {"requests":12000,"duration_us":10000000,"bytes":1,"errors":{"connect":0,\
"read":1,"write":0,"status":2,"timeout":0},"latency_us":{"p50":2000,"p95":5000,\
"p99":9000,"mean":2500.0,"max":20000}}
"""


def run(
    target: str, rps: float, p99_ms: float, scenario: str = "get", seconds: float = 10.0
) -> RunResult:
    return RunResult(
        target=target,
        scenario=scenario,
        round=1,
        requests=int(rps * seconds),
        seconds=seconds,
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
        cold_start=1.2, workers=2, memory=[(100 << 20, 160 << 20, 80 << 20)] * 2, restarts=0
    ),
    "bare": facts_of(
        cold_start=0.4, workers=2, memory=[(50 << 20, 50 << 20, 30 << 20)] * 2, restarts=0
    ),
}
SETTINGS = {"workers": 2, "connections": 32, "duration": 8.0, "rounds": 1}
THREE_WAY = [run("service", 500, 20.0), run("instrumented", 300, 40.0), run("bare", 1000, 10.0)]


def test_parse_result_reads_the_script_line() -> None:
    result = parse_result(WRK_OUTPUT, target="service", scenario="get", round_number=1)
    assert result.requests == 12000
    assert result.rps == pytest.approx(1200.0)
    assert result.errors == 3
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (2.0, 5.0, 9.0)


def test_parse_result_without_the_line_is_an_error() -> None:
    with pytest.raises(LoadGeneratorError, match="no result"):
        parse_result("wrk: connection refused\n", target="s", scenario="get", round_number=1)


def test_a_summary_counts_only_successful_answers() -> None:
    shedding = replace(
        run("service", 500, 20.0, seconds=10.0), errors=1000, error_kinds={"status": 1000}
    )
    timeouts = replace(
        run("service", 500, 20.0, seconds=10.0), errors=5, error_kinds={"timeout": 5}
    )
    summary = summarise([shedding, timeouts], "get", "service")
    assert summary.rps == pytest.approx(450.0), "a 503 is no capacity"
    assert summary.requests == 10_000
    assert summary.errors == 1005


def test_summary_weighs_rounds_by_their_time() -> None:
    runs = [run("bare", 1000, 10.0, seconds=8.0), run("bare", 500, 30.0, seconds=2.0)]
    summary = summarise(runs, "get", "bare")
    assert summary.rps == pytest.approx(900.0)
    assert summary.p99_ms == pytest.approx(20.0)
    with pytest.raises(ValueError, match="no runs of list on bare"):
        summarise(runs, "list", "bare")
    with pytest.raises(ValueError, match="lasted no time"):
        summarise([run("bare", 0, 1.0, seconds=0.0)], "get", "bare")


def test_report_has_the_three_ratios_of_every_scenario() -> None:
    results = [
        *THREE_WAY,
        run("service", 400, 30.0, "list"),
        run("instrumented", 200, 50.0, "list"),
        run("bare", 800, 12.0, "list"),
    ]
    report = build_report(results, FACTS, SETTINGS)
    for row in report["scenarios"]:
        assert set(row["ratios"]) == {"service/bare", "service/instrumented", "instrumented/bare"}
    get = report["scenarios"][0]["ratios"]
    assert get["service/bare"]["rps"] == pytest.approx(0.5)
    assert get["service/instrumented"]["rps"] == pytest.approx(1.667)
    assert get["instrumented/bare"]["p99"] == pytest.approx(4.0)
    table = format_table(report)
    assert "| get | **service/instrumented** | 1.67 |" in table
    assert "| list | **instrumented/bare** | 0.25 |" in table
    # The GET target side by side with what the instrumented baseline reaches on that bar.
    assert (
        "| GET /api/v1/tasks/{id} req/s, service/bare (every trace sampled) "
        "| 0.5 | >= 0.45 | 0.3 | met |"
    ) in table


def test_report_exit_status_follows_the_targets() -> None:
    assert build_report(THREE_WAY, FACTS, SETTINGS)["all_targets_met"] is True
    slow = [run("service", 400, 30.0), run("instrumented", 300, 40.0), run("bare", 1000, 10.0)]
    report = build_report(slow, FACTS, SETTINGS)
    assert report["all_targets_met"] is False
    assert format_table(report).count("**missed**") == 3


def test_report_carries_the_overload_and_its_verdict() -> None:
    missed = make_check("overload: goodput / closed-loop peak", 0.4, ">=", 0.8)
    report = build_report(
        THREE_WAY,
        FACTS,
        SETTINGS,
        overload={"table": ["| overload (open loop) | |", "|---|---|"]},
        overload_checks=[missed],
    )
    assert report["all_targets_met"] is False
    table = format_table(report)
    assert "| overload (open loop) | |" in table
    assert "| overload: goodput / closed-loop peak | 0.4 | >= 0.8 |  | **missed** |" in table
    # Only the overload ran: the memory and cold-start targets are still evaluated.
    alone = build_report([], FACTS, SETTINGS, overload_checks=[missed])
    assert [c["name"] for c in alone["checks"]][:2] == [
        "RSS per worker after load, MB",
        "cold start to /readyz 200, s",
    ]


def test_report_needs_the_service_and_the_bare_runs_of_a_scenario() -> None:
    with pytest.raises(ValueError, match="no runs of get on bare"):
        build_report([run("service", 900, 12.0)], FACTS, SETTINGS)
    with pytest.raises(ValueError, match="no runs of get on service"):
        build_report([run("bare", 900, 12.0)], FACTS, SETTINGS)


def test_chart_is_a_png(tmp_path: Path) -> None:
    results = [*THREE_WAY, run("service_sampled", 600, 15.0)]
    results += [run("service", 400, 30.0, "list"), run("bare", 600, 20.0, "list")]
    path = tmp_path / "bench.png"
    write_chart(build_report(results, FACTS, SETTINGS), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_wrk_exits_2_and_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "find_wrk", lambda: None)
    assert bench.main(["--duration", "1"]) == 2
    assert "apt-get install -y wrk" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenarios", "get,delete"], "unknown scenarios: delete"),
        (["--scenarios", ","], "no scenario selected"),
        (["--threads", "4", "--connections", "2"], "at least as many connections"),
        (["--overload-duration", "0"], "must be positive"),
        (["--overload-factor", "-1"], "factor must be positive"),
        (["--overload-warm-connections", "-1"], "must not be negative"),
        (["--service-env", "NOEQUALS"], "KEY=VALUE"),
        (["--service-source", "/nonexistent"], "no service/__main__.py"),
    ],
)
def test_bench_rejects_bad_command_lines(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_overload_set_up_reaches_its_settings() -> None:
    defaults = bench.parse_args([])
    assert (defaults.overload_split_cpus, defaults.overload_warm_connections) == (True, 128)
    args = bench.parse_args(["--no-overload-split-cpus", "--overload-warm-connections", "0"])
    assert (args.overload_split_cpus, args.overload_warm_connections) == (False, 0)


def test_service_source_moves_the_service_only(tmp_path: Path) -> None:
    other = tmp_path / "before"
    (other / "service").mkdir(parents=True)
    (other / "service" / "__main__.py").write_text("")
    args = bench.parse_args(["--service-source", str(other), "--scenarios", "get"])
    with OtlpSink() as first, OtlpSink() as second:
        sinks = {"service": first, "service_sampled": second}
        service, sampled = bench.service_targets(args, "postgresql://x", sinks, tmp_path)
    assert service.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == first.endpoint
    assert service.cwd == sampled.cwd == other.resolve()
    assert sampled.env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert service.env["JWT_SECRET"] == sampled.env["JWT_SECRET"]
    assert "OTEL_TRACES_SAMPLER" not in service.env
    baselines = [
        bare_target(workers=2, dsn="postgresql://x", owner_id="o", log_dir=tmp_path),
        instrumented_target(
            workers=2,
            dsn="postgresql://x",
            owner_id="o",
            otlp_endpoint="http://s",
            log_dir=tmp_path,
        ),
    ]
    assert {target.cwd for target in baselines} == {PROJECT_ROOT}
    assert all(t.env["PYTHONPATH"] == str(PROJECT_ROOT) for t in baselines)
    default = service_target(
        workers=1, database_url="x", jwt_secret="s", otlp_endpoint="e", log_dir=tmp_path
    )
    assert default.cwd == PROJECT_ROOT


def test_the_sampled_service_runs_in_the_get_scenario_only(tmp_path: Path) -> None:
    args = bench.parse_args(["--scenarios", "list,create"])
    with OtlpSink() as sink:
        (service,) = bench.service_targets(args, "x", {"service": sink}, tmp_path)
    assert service.name == "service"
    named = [
        service_target(
            workers=1, database_url="x", jwt_secret="s", otlp_endpoint="e", log_dir=tmp_path, name=n
        )
        for n in ("service", "service_sampled")
    ]
    assert [t.name for t in bench.targets_of("get", named)] == ["service", "service_sampled"]
    assert [t.name for t in bench.targets_of("list", named)] == ["service"]


def test_rounds_rotate_the_order_of_the_targets(tmp_path: Path) -> None:
    targets = [bare_target(workers=1, dsn="x", owner_id=str(n), log_dir=tmp_path) for n in range(3)]
    orders = [[t.env["BASELINE_OWNER_ID"] for t in bench.rotated(targets, n)] for n in range(4)]
    assert orders == [["0", "1", "2"], ["1", "2", "0"], ["2", "0", "1"], ["0", "1", "2"]]
    assert bench.rotated([], 3) == []


SITE = "/venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("frame", "package"),
    [
        (f"_encode_span ({SITE}/opentelemetry/exporter/otlp/x.py:102)", "opentelemetry.exporter"),
        (f"Span.end ({SITE}/opentelemetry/sdk/trace/__init__.py:9)", "opentelemetry.sdk"),
        (f"Router.__call__ ({SITE}/starlette/routing.py:683)", "starlette"),
        (f"f ({SITE}/six.py:1)", "six"),
        ("get_task (/work/wt/x/service/domains/tasks/routes.py:50)", "service"),
        ("get_task (/work/wt/x/tests/load/baseline.py:50)", "tests.load"),
        ("Condition.wait (/usr/lib/python3.11/threading.py:331)", "stdlib"),
        ("_run_code (<frozen runpy>:88)", "stdlib"),
        ("something (/opt/elsewhere/thing.py:1)", "other"),
    ],
)
def test_profile_frames_are_attributed_to_their_package(frame: str, package: str) -> None:
    assert profile.package_of(frame) == package


def test_profile_summary_of_collapsed_stacks(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        f"main (/app/service/cli.py:1);route ({SITE}/starlette/routing.py:2) 30\n"
        f"main (/app/service/cli.py:1);encode ({SITE}/opentelemetry/sdk/x.py:3) 10\n"
        "a line py-spy did not write\n"
        "\n"
    )
    summary = profile.summarise(collapsed)
    assert summary.startswith("40 samples")
    assert " 75.0%  starlette" in summary
    assert " 25.0%  opentelemetry.sdk" in summary
    assert "100.0%  main (/app/service/cli.py:1)" in summary
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert profile.summarise(empty).startswith("0 samples")
