"""Benchmark tasks-api against a bare FastAPI + asyncpg baseline, on demand.

    uv run python -m tests.load.bench --workers 2 --duration 10

Creates a fresh PostgreSQL database (seeded users and tasks), starts `tasks-api
serve` (production mode, telemetry exporting to a local OTLP sink) and the
baseline app of tests/load/baseline.py with the same worker count, drives both
with wrk in interleaved rounds (A B A B), and writes bench.json, bench.png and
the server logs under tests/load/results/<timestamp>/. Prints a table. Exit 0
when every target is met, 1 when one is missed, 2 when a tool is missing.
Installs nothing.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from tests.load.loadgen import INSTALL_HINT, SCENARIOS, Load, RunResult, find_wrk, run_wrk
from tests.load.report import (
    TargetFacts,
    build_report,
    facts_of,
    format_table,
    write_chart,
    write_json,
)
from tests.load.seed import BenchUser, asyncpg_dsn, create_bench_database, seed
from tests.load.sink import OtlpSink
from tests.load.targets import Target, baseline_target, service_target
from tests.support.databases import DEFAULT_POSTGRES, drop_postgres_database, url_string
from tests.support.server import PROJECT_ROOT

RESULTS = Path(__file__).with_name("results")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.load.bench", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up each")
    parser.add_argument("--tasks", type=int, default=5000, help="seeded tasks per user")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {', '.join(SCENARIOS)}",
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
        help="extra environment of the service (e.g. OTEL_TRACES_SAMPLER_ARG=0.1); repeatable",
    )
    parser.add_argument(
        "--service-source",
        type=Path,
        help="run the service from another source tree (a patched copy), started in it",
    )
    args = parser.parse_args(argv)
    args.scenario_list = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(args.scenario_list) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if args.workers < 1 or args.duration <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("workers, duration, rounds and connections must be positive")
    return args


def missing_tools() -> str | None:
    """What to install before the benchmark can run, or None."""
    if find_wrk() is None:
        return INSTALL_HINT
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is missing; install the dev group with:\n  uv sync --group dev"
    return None


def log(message: str) -> None:
    """Progress on stderr, so stdout holds the table only."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")


def drive(
    args: argparse.Namespace,
    wrk: str,
    targets: Sequence[Target],
    user: BenchUser,
    ids_file: Path,
) -> list[RunResult]:
    """Warm both up, then every scenario in rounds, alternating the targets (A B A B)."""
    load = Load(wrk=wrk, duration=args.duration, connections=args.connections)
    warm = Load(wrk=wrk, duration=args.warmup, connections=args.connections)
    tokens = {"service": user.token, "baseline": None}
    for target in targets:
        log(f"warm-up {target.name} ({args.warmup:g} s)")
        run_wrk(
            warm,
            base_url=target.base_url,
            scenario="mixed",
            ids_file=ids_file,
            token=tokens[target.name],
            target=target.name,
            round_number=0,
        )
    results = []
    for scenario in args.scenario_list:
        for round_number in range(1, args.rounds + 1):
            for target in targets:
                result = run_wrk(
                    load,
                    base_url=target.base_url,
                    scenario=scenario,
                    ids_file=ids_file,
                    token=tokens[target.name],
                    target=target.name,
                    round_number=round_number,
                )
                log(
                    f"{scenario} round {round_number} {target.name}: {result.rps:.0f} req/s, "
                    f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
                )
                results.append(result)
    return results


def measure(
    args: argparse.Namespace,
    wrk: str,
    targets: tuple[Target, Target],
    user: BenchUser,
    ids_file: Path,
) -> tuple[list[RunResult], dict[str, TargetFacts]]:
    """Drive both targets, then read their workers' memory and count worker restarts."""
    pids_before = {target.name: set(target.worker_pids()) for target in targets}
    results = drive(args, wrk, targets, user, ids_file)
    facts = {}
    for target in targets:
        memory = [(m.rss, m.peak_rss, m.pss) for m in target.worker_memory()]
        facts[target.name] = facts_of(
            cold_start=target.cold_start_seconds,
            workers=args.workers,
            memory=memory,
            restarts=len(set(target.worker_pids()) - pids_before[target.name]),
        )
    return results, facts


def compile_bytecode(extra: Path | None) -> float:
    """Compile the environment's and the service's modules, as the image does at build time.

    The image is built with UV_COMPILE_BYTECODE=1, so a pod imports compiled modules; a
    fresh `uv sync` leaves that work to the first start, which would then measure the
    compiler rather than the start-up. Returns the seconds it took.
    """
    started = time.monotonic()
    paths = {sysconfig.get_paths()["purelib"], str(PROJECT_ROOT / "service")}
    if extra is not None:
        paths.add(str(extra.resolve()))
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *sorted(paths)],
        check=False,  # a module that does not compile is reported by its own import
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def run(args: argparse.Namespace, wrk: str, out: Path) -> dict[str, Any]:
    """The whole benchmark; returns the report."""
    admin = make_url(args.admin_url)
    log(f"compiled bytecode, as the image does, in {compile_bytecode(args.service_source):.1f} s")
    log("creating and migrating the benchmark database")
    database: URL = asyncio.run(create_bench_database(admin))
    ids_file = out / "task-ids.txt"
    service: Target | None = None
    baseline: Target | None = None
    try:
        # The sink outlives the servers, so that their last telemetry flush finds it.
        with OtlpSink() as sink:
            try:
                service = service_target(
                    workers=args.workers,
                    database_url=url_string(database),
                    jwt_secret=secrets.token_hex(32),
                    otlp_endpoint=sink.endpoint,
                    log_dir=out,
                )
                service.env |= dict(item.split("=", 1) for item in args.service_env)
                if args.service_source is not None:
                    service.cwd = args.service_source.resolve()
                log(f"cold start service: {service.start():.2f} s")
                log(f"seeding {args.tasks} tasks for each of 3 users")
                user = asyncio.run(seed(database, service.base_url, args.tasks, ids_file))
                baseline = baseline_target(
                    workers=args.workers,
                    dsn=asyncpg_dsn(database),
                    owner_id=user.user_id,
                    log_dir=out,
                )
                log(f"cold start baseline: {baseline.start():.2f} s")
                results, facts = measure(args, wrk, (service, baseline), user, ids_file)
            finally:
                for started in (service, baseline):
                    if started is not None:
                        started.stop()
            exported = sink.counts()
    finally:
        if not args.keep_database:
            asyncio.run(drop_postgres_database(admin, database))
    settings = {
        "workers": args.workers,
        "duration": args.duration,
        "connections": args.connections,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "tasks_per_user": args.tasks,
        "cpus": os.cpu_count(),
        "started_at": out.name,
        "otlp_exports_received": exported,
        "service_env": args.service_env,
        "service_source": str(args.service_source) if args.service_source else None,
    }
    return build_report(results, facts, settings)


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
    write_chart(report, out / "bench.png")
    print(format_table(report))
    print(f"\nwrote {out / 'bench.json'} and {out / 'bench.png'}")
    return 0 if report["all_targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
