"""Benchmark tasks-api against an instrumented and a bare FastAPI + asyncpg baseline, on demand.

    uv run python -m tests.load.bench

Creates a fresh PostgreSQL database (seeded users and tasks) and starts, with
the same worker count: `tasks-api serve` (production mode, every trace sampled,
telemetry exporting to a local OTLP sink), the same service sampling 10 % of
traces (GET scenario only), the instrumented baseline (tests/load/instrumented.py:
the bare app plus the observability libraries at their defaults) and the bare
baseline (tests/load/baseline.py). Drives them with wrk in interleaved rounds (the
order rotates each round), then runs the open-loop overload scenario against the
service (tests/load/overload.py). Writes bench.json, bench.png and the servers'
logs under tests/load/results/<timestamp>/ and prints the tables and the targets.
Exit 0 when every measured target holds, 1 when one is missed, 2 when a tool is
missing. Installs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tests.load.chart import write_chart
from tests.load.checks import Check
from tests.load.loadgen import INSTALL_HINT, SCENARIOS, Load, RunResult, find_wrk, run_wrk
from tests.load.overload import OverloadSettings, run_overload
from tests.load.report import TargetFacts, build_report, facts_of, format_table, write_json
from tests.load.seed import BenchUser, asyncpg_dsn, create_bench_database, seed
from tests.load.sink import OtlpSink
from tests.load.targets import Target, bare_target, instrumented_target, service_target
from tests.support.databases import DEFAULT_POSTGRES, drop_postgres_database, url_string
from tests.support.server import PROJECT_ROOT

RESULTS = Path(__file__).with_name("results")
OVERLOAD = "overload"
ALL_SCENARIOS = (*SCENARIOS, OVERLOAD)
# The chart's sampling, for the second service target.
SAMPLED_ENV = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
SERVICES = ("service", "service_sampled")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.bench", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up each")
    parser.add_argument("--tasks", type=int, default=5000, help="seeded tasks per user")
    parser.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated subset of {', '.join(ALL_SCENARIOS)}",
    )
    parser.add_argument(
        "--sampled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the service at 10 %% sampling in the GET scenario",
    )
    parser.add_argument("--overload-factor", type=float, default=4.0, help="x the peak")
    parser.add_argument("--overload-duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--overload-timeout", type=float, default=2.0, help="client timeout, s")
    parser.add_argument(
        "--overload-split-cpus",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="overload: wrk and the generator on the last CPU, the service on the others",
    )
    parser.add_argument(
        "--overload-warm-connections",
        type=int,
        default=128,
        help="overload: keep-alive connections the generator opens before its schedule",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="an existing PostgreSQL database to create the benchmark database from",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it after")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the service targets (e.g. MAX_REQUESTS=0); repeatable",
    )
    parser.add_argument(
        "--service-source",
        type=Path,
        help="run the service package of another source tree (e.g. a worktree of an older "
        "commit); the baselines always run from this tree",
    )
    args = parser.parse_args(argv)
    args.scenario_list = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(args.scenario_list) - set(ALL_SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if not args.scenario_list:
        parser.error("no scenario selected")
    if min(args.workers, args.rounds, args.connections, args.threads) < 1:
        parser.error("workers, rounds, connections and threads must be at least 1")
    if args.threads > args.connections:
        parser.error("wrk needs at least as many connections as threads")
    if args.overload_warm_connections < 0:
        parser.error("--overload-warm-connections must not be negative")
    if min(args.duration, args.overload_duration, args.overload_timeout) <= 0:
        parser.error("durations and timeouts must be positive")
    if args.overload_factor <= 0:
        parser.error("the overload factor must be positive")
    if any("=" not in item for item in args.service_env):
        parser.error("--service-env takes KEY=VALUE")
    source = args.service_source
    if source is not None and not (source / "service" / "__main__.py").is_file():
        parser.error(f"--service-source {source} has no service/__main__.py")
    return args


def missing_tools() -> str | None:
    """What to install before the benchmark can run, or None."""
    if find_wrk() is None:
        return INSTALL_HINT
    try:
        import matplotlib  # noqa: F401
        import opentelemetry.instrumentation.asyncpg  # noqa: F401
    except ImportError:
        return "a dev dependency is missing; install the dev group with:\n  uv sync --group dev"
    return None


def log(message: str) -> None:
    """Progress on stderr, so stdout holds the tables only."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")


def targets_of(scenario: str, targets: Sequence[Target]) -> list[Target]:
    """The targets a scenario drives: the 10 %-sampled service only in the GET scenario."""
    return [t for t in targets if t.name != "service_sampled" or scenario == "get"]


def rotated(items: Sequence[Target], round_number: int) -> list[Target]:
    """The round's order: each target leads in turn, so no target always runs first."""
    shift = round_number % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def drive(
    args: argparse.Namespace, wrk: str, targets: Sequence[Target], user: BenchUser, ids: Path
) -> list[RunResult]:
    """Warm every target up, then every wrk scenario in rounds, alternating the targets."""
    load = Load(wrk=wrk, duration=args.duration, connections=args.connections, threads=args.threads)
    warm = Load(wrk=wrk, duration=args.warmup, connections=args.connections, threads=args.threads)

    def once(target: Target, scenario: str, number: int, how: Load) -> RunResult:
        token = user.token if target.name in SERVICES else None
        return run_wrk(
            how,
            base_url=target.base_url,
            scenario=scenario,
            ids_file=ids,
            token=token,
            target=target.name,
            round_number=number,
        )

    for target in targets:
        log(f"warm-up {target.name} ({args.warmup:g} s)")
        once(target, "mixed", 0, warm)
    results = []
    for scenario in (s for s in args.scenario_list if s in SCENARIOS):
        for number in range(1, args.rounds + 1):
            for target in rotated(targets_of(scenario, targets), number - 1):
                result = once(target, scenario, number, load)
                log(
                    f"{scenario} round {number} {target.name}: {result.rps:.0f} req/s, "
                    f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
                )
                results.append(result)
    return results


def facts(target: Target, workers: int, pids_before: set[int]) -> TargetFacts:
    """A target's memory now, its cold start and its worker restarts since `pids_before`."""
    memory = [(m.rss, m.peak_rss, m.pss) for m in target.worker_memory()]
    return facts_of(
        cold_start=target.cold_start_seconds,
        workers=workers,
        memory=memory,
        restarts=len(set(target.worker_pids()) - pids_before),
    )


def compile_bytecode(extra: Path | None) -> float:
    """Compile the environment's and the service's modules, as the image does at build time.

    The image is built with UV_COMPILE_BYTECODE=1, so a pod imports compiled modules; a
    fresh `uv sync` leaves that work to the first start, which would then measure the
    compiler rather than the start-up. Returns the seconds it took.
    """
    started = time.monotonic()
    paths = {sysconfig.get_paths()["purelib"], str(PROJECT_ROOT / "service")}
    if extra is not None:
        paths.add(str(extra.resolve() / "service"))
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *sorted(paths)],
        check=False,  # a module that does not compile is reported by its own import
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def service_targets(
    args: argparse.Namespace, database_url: str, sinks: dict[str, OtlpSink], out: Path
) -> list[Target]:
    """The service, and the service at the chart's sampling when the GET scenario runs."""
    names = ["service"]
    if args.sampled and "get" in args.scenario_list:
        names.append("service_sampled")
    jwt_secret = secrets.token_hex(32)  # shared: one token is valid on both
    found = []
    for name in names:
        target = service_target(
            workers=args.workers,
            database_url=database_url,
            jwt_secret=jwt_secret,
            otlp_endpoint=sinks[name].endpoint,
            log_dir=out,
            name=name,
            source=args.service_source,
        )
        target.env |= dict(item.split("=", 1) for item in args.service_env)
        if name == "service_sampled":
            target.env |= SAMPLED_ENV
        found.append(target)
    return found


def run(args: argparse.Namespace, wrk: str, out: Path) -> dict[str, Any]:
    """The whole benchmark; returns the report."""
    admin = make_url(args.admin_url)
    log(f"compiled bytecode, as the image does, in {compile_bytecode(args.service_source):.1f} s")
    log("creating and migrating the benchmark database")
    database = asyncio.run(create_bench_database(admin))
    dsn = asyncpg_dsn(database)
    ids_file = out / "task-ids.txt"
    started: list[Target] = []
    overload: dict[str, Any] | None = None
    overload_checks: list[Check] = []
    try:
        # The sinks outlive the servers, so that their last telemetry flush finds them.
        with ExitStack() as stack:
            names = ("service", "service_sampled", "instrumented")
            sinks = {name: stack.enter_context(OtlpSink()) for name in names}
            try:
                service, *sampled = service_targets(args, url_string(database), sinks, out)
                started.append(service)
                log(f"cold start service: {service.start():.2f} s")
                log(f"seeding {args.tasks} tasks for each of 3 users")
                user = asyncio.run(seed(database, service.base_url, args.tasks, ids_file))
                others = [
                    *sampled,
                    instrumented_target(
                        workers=args.workers,
                        dsn=dsn,
                        owner_id=user.user_id,
                        otlp_endpoint=sinks["instrumented"].endpoint,
                        log_dir=out,
                    ),
                    bare_target(workers=args.workers, dsn=dsn, owner_id=user.user_id, log_dir=out),
                ]
                for target in others:
                    started.append(target)
                    log(f"cold start {target.name}: {target.start():.2f} s")
                before = {t.name: set(t.worker_pids()) for t in started}
                results = drive(args, wrk, started, user, ids_file)
                measured = {t.name: facts(t, args.workers, before[t.name]) for t in started}
                if OVERLOAD in args.scenario_list:
                    overload, overload_checks, peak = run_overload(
                        OverloadSettings(
                            factor=args.overload_factor,
                            duration=args.overload_duration,
                            timeout=args.overload_timeout,
                            warm_connections=args.overload_warm_connections,
                            split_cpus=args.overload_split_cpus,
                        ),
                        Load(wrk, args.duration, args.connections, args.threads),
                        service,
                        token=user.token,
                        ids_file=ids_file,
                        dsn=dsn,
                        out=out,
                        log=log,
                    )
                    overload["peak_run"] = peak.as_dict()
            finally:
                for target in started:
                    target.stop()
            exported = {name: sink.counts() for name, sink in sinks.items()}
    finally:
        if not args.keep_database:
            asyncio.run(drop_postgres_database(admin, database))
    settings = {
        "workers": args.workers,
        "duration": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "tasks_per_user": args.tasks,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "started_at": out.name,
        "otlp_exports_received": exported,
        "service_env": args.service_env,
        "service_source": str(args.service_source) if args.service_source else None,
    }
    return build_report(
        results, measured, settings, overload=overload, overload_checks=overload_checks
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when all targets are met, 1 when one is missed, 2 on a setup error."""
    args = parse_args(argv)
    problem = missing_tools()
    if problem is not None:
        sys.stderr.write(problem + "\n")
        return 2
    wrk = find_wrk()
    assert wrk is not None
    out = args.output_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    report = run(args, wrk, out)
    write_json(report, out / "bench.json")
    if report["scenarios"]:
        write_chart(report, out / "bench.png")
    print(format_table(report))
    print(f"\nwrote {out / 'bench.json'} and the servers' logs in {out}")
    return 0 if report["all_targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
